// hello: greets someone; the AssemblyScript build of hello.c (same arguments, output
// and exit codes). Built with the WASI shim: see ../Makefile.
//
// The shim's process.argv decodes arguments as UTF-8 (replacing bytes that are not),
// so the arguments are read as raw bytes with args_get, as C does, and written as bytes.
import { args_get, args_sizes_get } from "bindings/wasi_snapshot_preview1";

const MAX_LINE = 255; // hello.c formats into char buf[256]

// The arguments as byte arrays (argv[0] included), without their terminating NULs.
function rawArgs(): Uint8Array[] {
  const sizes = new Uint32Array(2);
  if (args_sizes_get(sizes.dataStart, sizes.dataStart + 4) != 0) process.exit(1);
  const count = <i32>sizes[0];
  const ptrs = new Uint32Array(count);
  const data = new Uint8Array(<i32>sizes[1]);
  if (args_get(ptrs.dataStart, data.dataStart) != 0) process.exit(1);
  const out = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    const start = <i32>(<usize>ptrs[i] - data.dataStart);
    let end = start;
    while (data[end] != 0) end++;
    out[i] = data.slice(start, end);
  }
  return out;
}

function is(a: Uint8Array, s: string): bool {
  const b = Uint8Array.wrap(String.UTF8.encode(s));
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] != b[i]) return false;
  return true;
}

function concat(parts: Uint8Array[]): ArrayBuffer {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i].length;
  const out = new Uint8Array(n);
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    out.set(parts[i], at);
    at += parts[i].length;
  }
  return out.buffer;
}

function bytes(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

const args = rawArgs();
let name = bytes("world");
let shout = false;
for (let i = 1; i < args.length; i++) {
  if (is(args[i], "--name") && i + 1 < args.length) {
    name = args[++i];
  } else if (is(args[i], "--shout")) {
    shout = true;
  } else {
    process.stderr.write(concat([bytes("hello: unknown argument "), args[i], bytes("\n")]));
    process.exit(2);
  }
}
// As hello.c: the greeting is cut to 255 bytes and only ASCII letters are uppercased.
let line = Uint8Array.wrap(concat([bytes("hello, "), name]));
if (line.length > MAX_LINE) line = line.slice(0, MAX_LINE);
if (shout) {
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c >= 0x61 && c <= 0x7a) line[i] = c - 0x20;
  }
}
process.stdout.write(concat([line, bytes("\n")]));
