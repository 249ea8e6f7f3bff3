// sdk-example-rust: the Rust SDK's example tool. Greets someone, prints its parameters as
// one JSON document, and with --host/--port probes that TCP service, sends it the
// greeting and prints the reply. Exit 0, 1 when the network call failed (the JSON says
// why), 2 for a usage error.
#[path = "../agentctl.rs"]
mod agentctl;

use agentctl::{Errno, Json};

fn main() {
    let args = agentctl::Args::parse("sdk-example-rust", "name count:int shout:bool tag host port:int");
    let mut greeting = format!("hello, {}", args.require("name"));
    if args.bool("shout") {
        greeting.make_ascii_uppercase();
    }
    let mut doc = vec![
        ("greeting", Json::from(greeting.as_str())),
        ("count", args.int_or("count", 1).into()),
        ("tags", args.all("tag").into()),
    ];
    let mut failed = None;
    match args.str("host") {
        None => doc.push(("net", Json::Null)),
        Some(host) => {
            let port = match args.int("port") {
                Some(p @ 1..=65535) => p as u16,
                _ => args.usage("--host needs --port, 1 to 65535"),
            };
            let probe = agentctl::probe(&[(host, port)], 2000).map(|s| s[0]);
            let reply = probe.and_then(|_| {
                let mut conn = agentctl::connect(host, port, 2000)?;
                conn.send_all(format!("{}\n", greeting).as_bytes())?;
                conn.recv_to_end(4096, 2000)
            });
            if let Err(e) = reply {
                failed = Some((host, port, e));
            }
            doc.push((
                "net",
                Json::obj(vec![
                    ("probe", probe.ok().map(agentctl::ProbeState::name).into()),
                    ("reply", reply.as_ref().ok().map(|r| String::from_utf8_lossy(r).into_owned()).into()),
                    ("error", reply.err().map(Errno::name).into()),
                ]),
            ));
        }
    }
    println!("{}", Json::obj(doc));
    if let Some((host, port, e)) = failed {
        args.fail(1, &format!("{}:{}: {}", host, port, e));
    }
}
