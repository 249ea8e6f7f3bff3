//! __NAME__: joins --text (or the contents of --file) --repeat times, upper-cases it with
//! --upper, and prints the result and its size as one JSON document. Its parameters are
//! declared once, in manifest.json, which is built into the module for the SDK
//! (agentctl/agentctl.rs) to read. Exit 0, 1 when the file cannot be read, 2 for a usage
//! error.
#[path = "agentctl/agentctl.rs"]
mod agentctl;

use agentctl::{Args, Json};

fn main() {
    let args = Args::from_manifest(include_str!("manifest.json"));
    let repeat = args.int_or("repeat", 1);
    if !(1..=100).contains(&repeat) {
        args.usage(&format!("--repeat: want 1 to 100, got {}", repeat));
    }
    let text: Vec<u8> = match (args.str("text"), args.str("file")) {
        (Some(t), None) => t.as_bytes().to_vec(),
        (None, Some(path)) => match args.read_file(path, 1 << 20) {
            Ok(b) => b,
            Err(e) => args.fail(1, &agentctl::path_error(args.tool(), path, &e)),
        },
        _ => args.usage("give --text or --file (one of them)"),
    };

    let mut out: Vec<u8> = Vec::with_capacity((text.len() + 1) * repeat as usize);
    for i in 0..repeat {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(&text);
    }
    if args.bool("upper") {
        out.make_ascii_uppercase();
    }
    let words = out.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty()).count();

    let doc = Json::obj(vec![
        ("text", Json::Str(String::from_utf8_lossy(&out).into_owned())),
        ("bytes", Json::Int(out.len() as i64)),
        ("words", Json::Int(words as i64)),
    ]);
    println!("{}", doc);
}
