// agentctl: helpers for agent-ctl tools written in AssemblyScript (with
// @assemblyscript/wasi-shim): parameters, JSON output and the network host
// functions of docs/host-functions.md. Import it by relative path:
//
//   import { Args, JsonWriter, connect, lastError, errName } from "./agentctl";
//
// AssemblyScript cannot catch exceptions, so the network functions report
// failure by returning null (or a non-zero errno) and leave the errno in
// lastError; errName and errText say it in words.

import * as wasi from "bindings/wasi_snapshot_preview1";

// ---- parameters -------------------------------------------------------------

const T_STR = 0, T_INT = 1, T_NUM = 2, T_BOOL = 3;

// Args is the tool's command line, parsed against a spec. agent-ctl writes a
// tool's parameters as "--name value" (or "--name=value"), a true boolean as a
// bare "--name", an array as one flag per item, then the positional values
// (after "--" when one starts with "-").
export class Args {
  tool: string;
  // error is the usage error of parseFrom, "" when there was none.
  error: string = "";
  positional: string[] = [];
  private names: string[] = [];
  private types: i32[] = [];
  private keys: i32[] = [];
  private vals: string[] = [];

  constructor(tool: string) {
    this.tool = tool;
  }

  // parse reads the process's arguments against spec: the flags the tool
  // takes, separated by spaces, each "name" or "name:TYPE" with TYPE str (the
  // default), int, num or bool (a switch). An unknown flag, a missing value or
  // a bad number prints "TOOL: why" to stderr and exits 2.
  static parse(tool: string, spec: string): Args {
    const argv = process.argv;
    const a = Args.parseFrom(tool, spec, argv.slice(1));
    if (a.error.length > 0) a.usage(a.error);
    return a;
  }

  // parseFrom parses args (without the program name) as parse does, leaving
  // a usage error in .error instead of exiting.
  static parseFrom(tool: string, spec: string, args: string[]): Args {
    const a = new Args(tool);
    const words = spec.split(" ");
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (w.length == 0) continue;
      const colon = w.indexOf(":");
      const name = colon < 0 ? w : w.slice(0, colon);
      const t = colon < 0 ? "str" : w.slice(colon + 1);
      let type = T_STR;
      if (t == "int") type = T_INT;
      else if (t == "num") type = T_NUM;
      else if (t == "bool") type = T_BOOL;
      else if (t != "str") a.fail(1, "spec \"" + w + "\": type is not str, int, num or bool");
      a.names.push(name);
      a.types.push(type);
    }
    let flags = true;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (flags && arg == "--") {
        flags = false;
        continue;
      }
      if (!flags || !arg.startsWith("--")) {
        a.positional.push(arg);
        continue;
      }
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const si = a.names.indexOf(name);
      if (si < 0) {
        a.error = "unknown flag --" + name;
        return a;
      }
      let v: string;
      if (a.types[si] == T_BOOL) {
        v = eq < 0 ? "true" : arg.slice(eq + 1);
        if (v != "true" && v != "false") {
          a.error = "--" + name + ": want true or false, got \"" + v + "\"";
          return a;
        }
      } else if (eq >= 0) {
        v = arg.slice(eq + 1);
      } else if (i + 1 < args.length) {
        v = args[++i];
      } else {
        a.error = "--" + name + " needs a value";
        return a;
      }
      if (a.types[si] == T_INT && !isInt(v)) {
        a.error = "--" + name + ": want an integer, got \"" + v + "\"";
        return a;
      }
      if (a.types[si] == T_NUM && !isNum(v)) {
        a.error = "--" + name + ": want a number, got \"" + v + "\"";
        return a;
      }
      a.keys.push(si);
      a.vals.push(v);
    }
    return a;
  }

  // all returns every value of a repeated flag, in order.
  all(name: string): string[] {
    const si = this.names.indexOf(name);
    if (si < 0) this.fail(1, "--" + name + " is not in the spec given to Args.parse");
    const out: string[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == si) out.push(this.vals[i]);
    return out;
  }

  // last returns the flag's last value (the one that counts), or null
  // when it was not given.
  private last(name: string): string | null {
    const all = this.all(name);
    return all.length > 0 ? all[all.length - 1] : null;
  }

  // has reports whether the flag was given (a false switch counts as not given).
  has(name: string): bool {
    const v = this.last(name);
    if (v === null) return false;
    return !(this.types[this.names.indexOf(name)] == T_BOOL && v == "false");
  }

  // str returns the flag's last value, or def.
  str(name: string, def: string = ""): string {
    const v = this.last(name);
    return v !== null ? v : def;
  }

  // require returns the flag's last value; a missing flag is a usage error.
  require(name: string): string {
    const v = this.last(name);
    if (v === null) this.usage("--" + name + " is required");
    return v!;
  }

  int(name: string, def: i64 = 0): i64 {
    const v = this.last(name);
    if (v === null) return def;
    if (!isInt(v)) this.usage("--" + name + ": want an integer, got \"" + v + "\"");
    return parseI64(v);
  }

  num(name: string, def: f64 = 0): f64 {
    const v = this.last(name);
    if (v === null) return def;
    if (!isNum(v)) this.usage("--" + name + ": want a number, got \"" + v + "\"");
    return parseFloat(v);
  }

  // bool reports whether a switch was given (and not as --name=false).
  bool(name: string): bool {
    const v = this.last(name);
    return v !== null && v != "false";
  }

  // usage prints "TOOL: msg" to stderr and exits 2.
  usage(msg: string): void {
    this.fail(2, msg);
  }

  // fail prints "TOOL: msg" to stderr and exits with code.
  fail(code: i32, msg: string): void {
    fail(this.tool, code, msg);
  }
}

// fail prints "tool: msg" to stderr and exits with code.
export function fail(tool: string, code: i32, msg: string): void {
  process.stderr.write(tool + ": " + msg + "\n");
  process.exit(code);
}

// isInt: an optional sign and decimal digits that fit in an i64.
function isInt(s: string): bool {
  let i = 0;
  const neg = s.length > 0 && s.charCodeAt(0) == 0x2d;
  if (s.length > 0 && (s.charCodeAt(0) == 0x2d || s.charCodeAt(0) == 0x2b)) i = 1;
  if (i >= s.length) return false;
  let v: u64 = 0;
  const limit: u64 = neg ? <u64>9223372036854775808 : <u64>9223372036854775807;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
    const d = <u64>(c - 0x30);
    if (v > (limit - d) / 10) return false;
    v = v * 10 + d;
  }
  return true;
}

function parseI64(s: string): i64 {
  let i = 0;
  const neg = s.charCodeAt(0) == 0x2d;
  if (neg || s.charCodeAt(0) == 0x2b) i = 1;
  let v: u64 = 0;
  for (; i < s.length; i++) v = v * 10 + <u64>(s.charCodeAt(i) - 0x30);
  return neg ? -(<i64>v) : <i64>v;
}

// isNum: a decimal number as JSON and C write them, [+-]digits[.digits][e[+-]digits].
function isNum(s: string): bool {
  let i = 0, digits = 0;
  if (i < s.length && (s.charCodeAt(i) == 0x2d || s.charCodeAt(i) == 0x2b)) i++;
  while (i < s.length && isDigit(s.charCodeAt(i))) { i++; digits++; }
  if (i < s.length && s.charCodeAt(i) == 0x2e) {
    i++;
    while (i < s.length && isDigit(s.charCodeAt(i))) { i++; digits++; }
  }
  if (digits == 0) return false;
  if (i < s.length && (s.charCodeAt(i) | 0x20) == 0x65) {
    i++;
    if (i < s.length && (s.charCodeAt(i) == 0x2d || s.charCodeAt(i) == 0x2b)) i++;
    let exp = 0;
    while (i < s.length && isDigit(s.charCodeAt(i))) { i++; exp++; }
    if (exp == 0) return false;
  }
  return i == s.length && isFinite(parseFloat(s));
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

// ---- the manifest's parameters ----------------------------------------------

// ManifestSpec is the tool's name and the spec of its flags, read from the
// text of its manifest.json by specFromManifest; error is "" when it was read.
export class ManifestSpec {
  tool: string = "";
  spec: string = "";
  error: string = "";
}

// A small JSON reader over a manifest's text: it walks what it needs and
// skips, checking, what it does not. Positions are UTF-16 indexes; -1 is
// malformed text.
class JsonScan {
  constructor(public s: string) {}

  ws(i: i32): i32 {
    while (i < this.s.length) {
      const c = this.s.charCodeAt(i);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      i++;
    }
    return i;
  }

  // str reads the string at i into this.last; it returns the position after.
  last: string = "";
  str(i: i32): i32 {
    if (i < 0 || i >= this.s.length || this.s.charCodeAt(i) != 0x22) return -1;
    i++;
    let out = "";
    while (true) {
      if (i >= this.s.length) return -1;
      const c = this.s.charCodeAt(i++);
      if (c == 0x22) break;
      if (c < 0x20) return -1;
      if (c != 0x5c) { out += String.fromCharCode(c); continue; }
      if (i >= this.s.length) return -1;
      const e = this.s.charCodeAt(i++);
      if (e == 0x22 || e == 0x5c || e == 0x2f) out += String.fromCharCode(e);
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x6e) out += "\n";
      else if (e == 0x72) out += "\r";
      else if (e == 0x74) out += "\t";
      else if (e == 0x75) {
        if (i + 4 > this.s.length) return -1;
        const v = I32.parseInt(this.s.slice(i, i + 4), 16);
        for (let k = 0; k < 4; k++) {
          const h = this.s.charCodeAt(i + k);
          if (!((h >= 0x30 && h <= 0x39) || (h >= 0x41 && h <= 0x46) || (h >= 0x61 && h <= 0x66))) return -1;
        }
        out += String.fromCharCode(v);
        i += 4;
      } else return -1;
    }
    this.last = out;
    return i;
  }

  // value skips the value at i; it returns the position after.
  value(i: i32, depth: i32): i32 {
    i = this.ws(i);
    if (depth > 64 || i >= this.s.length) return -1;
    const c = this.s.charCodeAt(i);
    if (c == 0x7b || c == 0x5b) {
      const close = c == 0x7b ? 0x7d : 0x5d;
      i = this.ws(i + 1);
      if (i < this.s.length && this.s.charCodeAt(i) == close) return i + 1;
      while (true) {
        if (c == 0x7b) {
          i = this.str(this.ws(i));
          if (i < 0) return -1;
          i = this.ws(i);
          if (i >= this.s.length || this.s.charCodeAt(i) != 0x3a) return -1;
          i++;
        }
        i = this.value(i, depth + 1);
        if (i < 0) return -1;
        i = this.ws(i);
        if (i >= this.s.length) return -1;
        const d = this.s.charCodeAt(i);
        if (d == 0x2c) { i++; continue; }
        return d == close ? i + 1 : -1;
      }
    }
    if (c == 0x22) return this.str(i);
    if (this.s.startsWith("true", i)) return i + 4;
    if (this.s.startsWith("false", i)) return i + 5;
    if (this.s.startsWith("null", i)) return i + 4;
    let j = i;
    while (j < this.s.length) {
      const d = this.s.charCodeAt(j);
      if (!((d >= 0x30 && d <= 0x39) || d == 0x2d || d == 0x2b || d == 0x2e || d == 0x65 || d == 0x45)) break;
      j++;
    }
    return j > i ? j : -1;
  }

  // keys and vals: the members of the object at i (positions of the values).
  keys: string[] = [];
  vals: i32[] = [];
  members(i: i32): bool {
    this.keys = [];
    this.vals = [];
    i = this.ws(i);
    if (i < 0 || i >= this.s.length || this.s.charCodeAt(i) != 0x7b) return false;
    i = this.ws(i + 1);
    if (i < this.s.length && this.s.charCodeAt(i) == 0x7d) return true;
    while (true) {
      i = this.str(this.ws(i));
      if (i < 0) return false;
      i = this.ws(i);
      if (i >= this.s.length || this.s.charCodeAt(i) != 0x3a) return false;
      const at = this.ws(i + 1);
      this.keys.push(this.last);
      this.vals.push(at);
      i = this.value(at, 1);
      if (i < 0) return false;
      i = this.ws(i);
      if (i >= this.s.length) return false;
      const d = this.s.charCodeAt(i);
      if (d == 0x2c) { i++; continue; }
      return d == 0x7d;
    }
  }

  // get returns the position of member key of the object at i, or -1.
  get(i: i32, key: string): i32 {
    if (i < 0 || !this.members(i)) return -1;
    for (let k = 0; k < this.keys.length; k++) if (this.keys[k] == key) return this.vals[k];
    return -1;
  }

  // strAt returns the string at i, or "" when it is not one.
  strAt(i: i32): string {
    if (i < 0 || this.str(i) < 0) return "";
    return this.last;
  }
}

// specFromManifest reads the tool's name and the spec of its flags from the
// text of its manifest.json: each inputSchema.properties member is a flag,
// typed by its JSON Schema type (boolean: bool, integer: int, number: num, an
// array: its items' type, anything else: str). So the manifest is the one
// place parameters are declared.
export function specFromManifest(manifest: string): ManifestSpec {
  const r = new ManifestSpec();
  const j = new JsonScan(manifest);
  const end = j.value(0, 0);
  if (end < 0 || j.ws(end) != manifest.length) { r.error = "malformed JSON"; return r; }
  r.tool = j.strAt(j.get(0, "name"));
  if (r.tool.length == 0) { r.error = "no \"name\""; return r; }
  const props = j.get(j.get(0, "inputSchema"), "properties");
  if (props < 0) return r;
  j.members(props);
  const names = j.keys.slice(0);
  const at = j.vals.slice(0);
  const words: string[] = [];
  for (let k = 0; k < names.length; k++) {
    const n = names[k];
    if (n.length == 0 || n.includes(" ") || n.includes(":")) { r.error = "parameter \"" + n + "\": not a flag name"; return r; }
    let t = j.strAt(j.get(at[k], "type"));
    if (t == "array") t = j.strAt(j.get(j.get(at[k], "items"), "type"));
    if (t == "boolean") words.push(n + ":bool");
    else if (t == "integer") words.push(n + ":int");
    else if (t == "number") words.push(n + ":num");
    else words.push(n);
  }
  r.spec = words.join(" ");
  return r;
}

// argsFromManifest parses the process's arguments against the flags the
// tool's manifest declares (see specFromManifest); manifest is the text of
// manifest.json built into the module. A manifest it cannot read exits 2.
export function argsFromManifest(manifest: string): Args {
  const m = specFromManifest(manifest);
  if (m.error.length > 0) fail("agentctl", 2, "the built-in manifest.json: " + m.error);
  return Args.parse(m.tool, m.spec);
}

// ---- files -----------------------------------------------------------------

// fileError says why the last readFile failed ("" after a success).
export let fileError: string = "";

// notGrantedMessage is what a tool says for a path outside the operator's
// grants: "not granted: /data/x (agent-ctl grant TOOL --dir HOST_DIR:/data)".
export function notGrantedMessage(tool: string, path: string): string {
  let top = "/DIR";
  if (path.startsWith("/")) {
    const slash = path.indexOf("/", 1);
    top = slash < 0 ? path : path.slice(0, slash);
  }
  return "not granted: " + path + " (agent-ctl grant " + tool + " --dir HOST_DIR:" + top + ")";
}

// readFile reads all of path (at most max bytes; more is an error). The
// wasi-shim has no file API: it finds the preopened directory the path is
// under itself, as wasi-libc would. A path under none, or one the runtime
// answers EBADF for, is not granted: it prints notGrantedMessage and exits 1.
// Other failures return null with the reason in fileError.
export function readFile(tool: string, path: string, max: i32): Uint8Array | null {
  fileError = "";
  // The longest preopened directory that path is under.
  let dirfd: i32 = -1;
  let rel = "";
  let best = -1;
  const st = memory.data(8);
  for (let fd: i32 = 3; fd < 1024; fd++) {
    if (wasi.fd_prestat_get(fd, changetype<wasi.prestat>(st)) != wasi.errno.SUCCESS) break;
    const n = <i32>load<u32>(st, 4);
    const buf = new ArrayBuffer(n);
    if (wasi.fd_prestat_dir_name(fd, changetype<usize>(buf), n) != wasi.errno.SUCCESS) continue;
    let dir = String.UTF8.decode(buf);
    while (dir.length > 1 && dir.endsWith("/")) dir = dir.slice(0, dir.length - 1);
    let r = "";
    if (path == dir) r = ".";
    else if (dir == "/" && path.startsWith("/")) r = path.slice(1);
    else if (path.startsWith(dir + "/")) r = path.slice(dir.length + 1);
    else continue;
    if (dir.length > best) { best = dir.length; dirfd = fd; rel = r; }
  }
  if (dirfd < 0) fail(tool, 1, notGrantedMessage(tool, path));
  const p = String.UTF8.encode(rel);
  const fdOut = memory.data(4);
  let e = wasi.path_open(dirfd, wasi.lookupflags.SYMLINK_FOLLOW, changetype<usize>(p), p.byteLength, 0,
    wasi.rights.FD_READ, 0, 0, fdOut);
  if (e == wasi.errno.BADF || e == wasi.errno.NOTCAPABLE) fail(tool, 1, notGrantedMessage(tool, path));
  if (e != wasi.errno.SUCCESS) { fileError = path + ": " + wasi.errnoToString(e); return null; }
  const fd = load<u32>(fdOut);
  let out = new Uint8Array(0);
  const chunk = new Uint8Array(65536);
  const iov = memory.data(8);
  const nread = memory.data(4);
  while (true) {
    store<u32>(iov, <u32>chunk.dataStart);
    store<u32>(iov, <u32>chunk.length, 4);
    e = wasi.fd_read(fd, iov, 1, nread);
    if (e != wasi.errno.SUCCESS) { wasi.fd_close(fd); fileError = path + ": " + wasi.errnoToString(e); return null; }
    const n = <i32>load<u32>(nread);
    if (n == 0) break;
    if (out.length + n > max) { wasi.fd_close(fd); fileError = path + ": larger than " + max.toString() + " bytes"; return null; }
    const grown = new Uint8Array(out.length + n);
    grown.set(out);
    grown.set(chunk.subarray(0, n), out.length);
    out = grown;
  }
  wasi.fd_close(fd);
  return out;
}

// ---- JSON output ------------------------------------------------------------

const HEX = "0123456789abcdef";

// quote returns s as a quoted JSON string: '"' and '\' escaped, \b \f \n \r
// \t, other control characters, DEL, U+2028 and U+2029 as \u00XX or \u2028,
// a lone surrogate (not valid Unicode) as \ufffd; all else as is.
export function quote(s: string): string {
  const parts: string[] = ["\""];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c == 0x22) esc = "\\\"";
    else if (c == 0x5c) esc = "\\\\";
    else if (c == 0x08) esc = "\\b";
    else if (c == 0x0c) esc = "\\f";
    else if (c == 0x0a) esc = "\\n";
    else if (c == 0x0d) esc = "\\r";
    else if (c == 0x09) esc = "\\t";
    else if (c < 0x20 || c == 0x7f || c == 0x2028 || c == 0x2029) {
      esc = "\\u" + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) + HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      i++; // a surrogate pair: as is
      continue;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      esc = "\\ufffd";
    }
    if (esc === null) continue;
    parts.push(s.slice(start, i));
    parts.push(esc);
    start = i + 1;
  }
  parts.push(s.slice(start));
  parts.push("\"");
  return parts.join("");
}

// JsonWriter builds one compact JSON document, {"a":1,"b":["x"]}; it places
// the commas and colons. Keys and values go in the order written.
export class JsonWriter {
  private parts: string[] = [];
  private closers: string[] = [];
  private counts: i32[] = [];
  private afterKey: bool = false;

  private before(): void {
    if (this.afterKey) {
      this.afterKey = false;
      return;
    }
    const d = this.counts.length;
    if (d > 0) {
      if (this.counts[d - 1] > 0) this.parts.push(",");
      this.counts[d - 1]++;
    }
  }

  // begin opens an object or an array, which close ("}" or "]") ends.
  private begin(open: string, close: string): JsonWriter {
    this.before();
    this.parts.push(open);
    this.closers.push(close);
    this.counts.push(0);
    return this;
  }

  beginObject(): JsonWriter {
    return this.begin("{", "}");
  }

  beginArray(): JsonWriter {
    return this.begin("[", "]");
  }

  // end closes the innermost object or array.
  end(): JsonWriter {
    this.parts.push(this.closers.pop());
    this.counts.pop();
    return this;
  }

  key(k: string): JsonWriter {
    this.before();
    this.parts.push(quote(k));
    this.parts.push(":");
    this.afterKey = true;
    return this;
  }

  // str writes a string, or null for null.
  str(s: string | null): JsonWriter {
    this.before();
    this.parts.push(s === null ? "null" : quote(s));
    return this;
  }

  int(v: i64): JsonWriter {
    this.before();
    this.parts.push(v.toString());
    return this;
  }

  // num writes a number; NaN and infinities as null.
  num(v: f64): JsonWriter {
    this.before();
    this.parts.push(isFinite(v) ? v.toString() : "null");
    return this;
  }

  bool(v: bool): JsonWriter {
    this.before();
    this.parts.push(v ? "true" : "false");
    return this;
  }

  null(): JsonWriter {
    this.before();
    this.parts.push("null");
    return this;
  }

  toString(): string {
    return this.parts.join("");
  }

  // print writes the document and a newline to stdout.
  print(): void {
    process.stdout.write(this.toString() + "\n");
  }
}

// ---- network ----------------------------------------------------------------

@external("agent_ctl", "net_connect")
declare function net_connect(host: usize, hostLen: usize, port: i32, timeoutMs: i32, handleOut: usize): i32;
@external("agent_ctl", "net_send")
declare function net_send(handle: i32, buf: usize, len: usize, sentOut: usize): i32;
@external("agent_ctl", "net_recv")
declare function net_recv(handle: i32, buf: usize, len: usize, timeoutMs: i32, recvOut: usize): i32;
@external("agent_ctl", "net_close")
declare function net_close(handle: i32): i32;
@external("agent_ctl", "net_probe")
declare function net_probe(targets: usize, targetsLen: usize, timeoutMs: i32, results: usize, resultsLen: usize): i32;

// The errnos of docs/host-functions.md.
// BEGIN GENERATED errnos: by worker/protocol/errnogen from its table; do not edit
// success
export const OK: i32 = 0;
// the operator's grants do not allow it: that host and port (or no network at all), a directory not
// granted, writing below a read-only grant
export const DENIED: i32 = 1;
// the port is closed
export const REFUSED: i32 = 2;
// no answer in time (filtered), or no data within a read's timeout
export const TIMEOUT: i32 = 3;
// no route, name not found, another network error
export const UNREACHABLE: i32 = 4;
// a malformed argument
export const INVALID: i32 = 5;
// not an open connection or file
export const BADHANDLE: i32 = 6;
// a per-call limit (open connections, probes, bytes)
export const LIMIT: i32 = 7;
// the peer closed and no data is left
export const EOF: i32 = 8;
// the connection failed while sending or receiving
export const IO: i32 = 9;
// no such file or directory below the granted directory
export const NOENT: i32 = 10;
// a component of the path is a symbolic link, which file_open never follows
export const SYMLINK: i32 = 11;
// the path names a directory, a device, a pipe or a socket, not a regular file
export const NOTFILE: i32 = 12;
// the host does not provide this function on this platform
export const NOTSUP: i32 = 13;
// END GENERATED errnos

// Probe states, one per target of probe.
export const PROBE_OPEN: u8 = 0;
export const PROBE_DENIED: u8 = 1;
export const PROBE_CLOSED: u8 = 2;
export const PROBE_FILTERED: u8 = 3;
export const PROBE_UNREACHABLE: u8 = 4;
export const PROBE_INVALID: u8 = 5;

export const MAX_IO: i32 = 64 * 1024;
export const MAX_PROBES: i32 = 65536;
export const MAX_PROBE_TEXT: i32 = 1 << 20;

// lastError is the errno of the last network call (OK after a success).
export let lastError: i32 = OK;

// BEGIN GENERATED errno-tables: by worker/protocol/errnogen from its table; do not edit
const ERR_NAMES: string[] = ["OK", "DENIED", "REFUSED", "TIMEOUT", "UNREACHABLE", "INVALID", "BADHANDLE", "LIMIT", "EOF", "IO", "NOENT", "SYMLINK", "NOTFILE", "NOTSUP"];
const ERR_TEXTS: string[] = [
  "success",
  "not granted by the operator's grants",
  "connection refused",
  "timed out",
  "host unreachable",
  "invalid argument",
  "not an open connection or file",
  "a per-call network limit was reached",
  "connection closed by the peer",
  "connection failed while sending or receiving",
  "no such file or directory in the grants",
  "the path goes through a symbolic link",
  "not a regular file",
  "not supported on this host",
];
// END GENERATED errno-tables
const STATE_NAMES: string[] = ["open", "denied", "closed", "filtered", "unreachable", "invalid"];

// errName: "DENIED", "REFUSED", ... as docs/host-functions.md names them.
export function errName(e: i32): string {
  return e >= 0 && e < ERR_NAMES.length ? ERR_NAMES[e] : "UNKNOWN";
}

// errText: a lower-case phrase for messages.
export function errText(e: i32): string {
  return e >= 0 && e < ERR_TEXTS.length ? ERR_TEXTS[e] : "unknown network error";
}

// stateName: "open", "denied", "closed", "filtered", "unreachable", "invalid".
export function stateName(s: u8): string {
  return s < <u8>STATE_NAMES.length ? STATE_NAMES[s] : "invalid";
}

function ptr(b: Uint8Array): usize {
  return b.dataStart;
}

// Conn is a TCP connection the supervisor opened on the tool's behalf.
export class Conn {
  constructor(public handle: i32) {}

  // send sends all of data; it returns the errno.
  send(data: Uint8Array): i32 {
    const out = new Uint32Array(1);
    let at = 0;
    while (at < data.length) {
      const n = min(data.length - at, MAX_IO);
      lastError = net_send(this.handle, ptr(data) + at, n, out.dataStart);
      if (lastError != OK) return lastError;
      const sent = <i32>out[0];
      if (sent <= 0 || sent > n) return (lastError = IO);
      at += sent;
    }
    return (lastError = OK);
  }

  // sendString sends s as UTF-8.
  sendString(s: string): i32 {
    return this.send(Uint8Array.wrap(String.UTF8.encode(s)));
  }

  // recv waits up to timeoutMs (0: 5 s) for data and returns at most max
  // (and MAX_IO) bytes, or null with the errno in lastError (EOF once the
  // peer has closed and nothing is left).
  recv(max: i32, timeoutMs: i32 = 0): Uint8Array | null {
    const buf = new Uint8Array(min(max, MAX_IO));
    const out = new Uint32Array(1);
    lastError = net_recv(this.handle, ptr(buf), buf.length, timeoutMs, out.dataStart);
    if (lastError != OK) return null;
    return buf.slice(0, <i32>out[0]);
  }

  // recvAll reads until the peer closes, at most max bytes, each wait at
  // most timeoutMs; null on an error other than EOF (see lastError).
  recvAll(max: i32, timeoutMs: i32 = 0): Uint8Array | null {
    const chunks: Uint8Array[] = [];
    let total = 0;
    while (total < max) {
      const b = this.recv(max - total, timeoutMs);
      if (b === null) {
        if (lastError == EOF) break;
        return null;
      }
      chunks.push(b);
      total += b.length;
    }
    lastError = OK;
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < chunks.length; i++) {
      out.set(chunks[i], at);
      at += chunks[i].length;
    }
    return out;
  }

  close(): i32 {
    lastError = net_close(this.handle);
    this.handle = 0;
    return lastError;
  }
}

// connect opens a TCP connection to host (an IPv4 or IPv6 literal without
// brackets, or a hostname) within timeoutMs (0: the host's default, 5 s). It
// returns null on failure, with the errno in lastError.
export function connect(host: string, port: i32, timeoutMs: i32 = 0): Conn | null {
  const h = String.UTF8.encode(host);
  const out = new Uint32Array(1);
  lastError = net_connect(changetype<usize>(h), h.byteLength, port, timeoutMs, out.dataStart);
  if (lastError != OK) return null;
  return new Conn(<i32>out[0]);
}

// Target is one host and port to probe.
export class Target {
  constructor(public host: string, public port: i32) {}

  // line is the target as net_probe reads it: "host:port\n", or
  // "[host]:port\n" for an IPv6 literal.
  line(): string {
    const p = this.port.toString();
    return this.host.includes(":") ? "[" + this.host + "]:" + p + "\n" : this.host + ":" + p + "\n";
  }
}

// probe is a TCP connect scan by the host: each target is connected to and at
// once closed, up to 256 at a time, each within timeoutMs (0: 5 s). It
// returns one PROBE_* state per target, in order, or null with the errno in
// lastError. Targets beyond MAX_PROBE_TEXT bytes of text go in several calls.
export function probe(targets: Target[], timeoutMs: i32 = 0): Uint8Array | null {
  if (targets.length > MAX_PROBES) {
    lastError = LIMIT;
    return null;
  }
  const states = new Uint8Array(targets.length);
  let first = 0;
  while (first < targets.length) {
    const lines: string[] = [];
    let bytes = 0;
    let end = first;
    while (end < targets.length) {
      const l = targets[end].line();
      const n = String.UTF8.byteLength(l);
      if (bytes + n > MAX_PROBE_TEXT && end > first) break;
      lines.push(l);
      bytes += n;
      end++;
    }
    const text = String.UTF8.encode(lines.join(""));
    lastError = net_probe(changetype<usize>(text), text.byteLength, timeoutMs, ptr(states) + first, end - first);
    if (lastError != OK) return null;
    first = end;
  }
  return states;
}
