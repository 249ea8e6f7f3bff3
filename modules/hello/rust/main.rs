// hello: greets someone; the Rust build of hello.c (same arguments, output and exit codes).
// Built with Debian's rustc for wasm32-wasi, std only: see ../Makefile.
use std::env;
use std::io::Write;
use std::os::wasi::ffi::OsStrExt;
use std::process;

fn main() {
    let args: Vec<Vec<u8>> = env::args_os().skip(1).map(|a| a.as_bytes().to_vec()).collect();
    let mut name: &[u8] = b"world";
    let mut shout = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_slice();
        if a == b"--name" && i + 1 < args.len() {
            i += 1;
            name = &args[i];
        } else if a == b"--shout" {
            shout = true;
        } else {
            let mut e = b"hello: unknown argument ".to_vec();
            e.extend_from_slice(a);
            e.push(b'\n');
            let _ = std::io::stderr().write_all(&e);
            process::exit(2);
        }
        i += 1;
    }
    // As hello.c: the greeting is cut to 255 bytes and only ASCII letters are uppercased.
    let mut line = b"hello, ".to_vec();
    line.extend_from_slice(name);
    line.truncate(255);
    if shout {
        line.make_ascii_uppercase();
    }
    line.push(b'\n');
    let _ = std::io::stdout().write_all(&line);
}
