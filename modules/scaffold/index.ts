// __NAME__: joins --text (or the contents of --file) --repeat times,
// upper-cases it with --upper, and prints the result and its size as one
// JSON document. Its parameters are declared once, in manifest.json, which
// the Makefile builds into the module (manifest.ts) for the SDK
// (agentctl/agentctl.ts) to read. Exit 0, 1 when the file cannot be read, 2
// for a usage error.
import { argsFromManifest, readFile, fileError, JsonWriter } from "./agentctl/agentctl";
import { MANIFEST } from "./manifest";

const args = argsFromManifest(MANIFEST);
const repeat = args.int("repeat", 1);
if (repeat < 1 || repeat > 100) args.usage("--repeat: want 1 to 100, got " + repeat.toString());
if (args.has("text") == args.has("file")) args.usage("give --text or --file (one of them)");
let text = args.str("text");
if (args.has("file")) {
  const b = readFile(args.tool, args.str("file"), 1 << 20);
  if (b == null) args.fail(1, fileError);
  else text = String.UTF8.decode(b.buffer);
}

const parts = new Array<string>(<i32>repeat);
for (let i = 0; i < <i32>repeat; i++) parts[i] = text;
let out = parts.join(" ");
if (args.bool("upper")) {
  // ASCII letters only, as the other languages' scaffolds do.
  const codes = new Array<i32>(out.length);
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    codes[i] = c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
  }
  out = String.fromCharCodes(codes);
}
let words = 0;
for (let i = 0; i < out.length; i++) {
  const c = out.charCodeAt(i);
  const space = c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
  const p = i == 0 ? 0x20 : out.charCodeAt(i - 1);
  const prev = p == 0x20 || p == 0x09 || p == 0x0a || p == 0x0d;
  if (!space && prev) words++;
}

const j = new JsonWriter();
j.beginObject();
j.key("text").str(out);
j.key("bytes").int(String.UTF8.byteLength(out));
j.key("words").int(words);
j.end();
j.print();
