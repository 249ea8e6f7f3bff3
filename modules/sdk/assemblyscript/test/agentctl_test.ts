// Unit tests of agentctl.ts, run by test/run.mjs under Node's WASI with a fake
// agent_ctl host (`make -C modules/sdk test`). With arguments, it parses them
// as a tool would (Args.parse), so run.mjs can check the usage exit.
import { specFromManifest, notGrantedMessage, Args, JsonWriter, Target, connect, probe, quote, lastError, errName, errText, stateName, DENIED, EOF, LIMIT, OK, MAX_PROBES } from "../agentctl";

let failures = 0;
function check(ok: bool, what: string): void {
  if (!ok) {
    process.stderr.write("FAIL: " + what + "\n");
    failures++;
  }
}

const SPEC = "name count:int ratio:num shout:bool tag";

if (process.argv.length > 1) {
  const a = Args.parse("t", SPEC);
  process.stdout.write("parsed " + a.str("name") + "\n");
  process.exit(0);
}

let a = Args.parseFrom("t", SPEC, ["--name", "--op", "--count=-3", "--tag", "a", "--shout", "--tag", "b", "--ratio", "1.5", "pos1", "--", "--pos2"]);
check(a.error == "", "parse error " + a.error);
check(a.str("name") == "--op" && a.require("name") == "--op", "name " + a.str("name"));
check(a.int("count") == -3, "count");
check(a.num("ratio") == 1.5, "ratio");
check(a.bool("shout") && a.has("shout"), "shout");
const tags = a.all("tag");
check(tags.length == 2 && tags[0] == "a" && tags[1] == "b", "tags " + tags.join(","));
check(a.positional.length == 2 && a.positional[0] == "pos1" && a.positional[1] == "--pos2", "positional " + a.positional.join(","));

a = Args.parseFrom("t", SPEC, ["--shout=false"]);
check(!a.bool("shout") && !a.has("shout") && !a.has("name"), "shout=false");
check(a.str("name", "def") == "def" && a.int("count", 7) == 7 && a.num("ratio", 2.5) == 2.5 && a.all("tag").length == 0, "defaults");
check(Args.parseFrom("t", SPEC, ["--count", "9223372036854775807"]).int("count") == 9223372036854775807, "max int");
check(Args.parseFrom("t", SPEC, ["--count", "-9223372036854775808"]).int("count") == -9223372036854775808, "min int");

const bad: string[][] = [["--nope", "x"], ["--name"], ["--count", "12x"], ["--count", "9223372036854775808"], ["--ratio", "nan"], ["--ratio", "1e"], ["--shout=yes"]];
const want: string[] = ["unknown flag --nope", "--name needs a value", "--count: want an integer, got \"12x\"", "--count: want an integer", "--ratio: want a number", "--ratio: want a number", "--shout: want true or false"];
for (let i = 0; i < bad.length; i++) {
  const e = Args.parseFrom("t", SPEC, bad[i]).error;
  check(e.includes(want[i]), bad[i].join(" ") + ": error \"" + e + "\", want \"" + want[i] + "\"");
}

const j = new JsonWriter();
j.beginObject();
j.key("s").str("q\" b\\ nl\n tab\t cr\r bs\b ff\f \x01\x1f del\x7f e\u00e9 \u2028 \u{1F600}");
j.key("lone").str(String.fromCharCode(0xd800) + "x" + String.fromCharCode(0xdc00));
j.key("a").beginArray().int(-42).num(0.5).bool(true).bool(false).null().str(null).beginObject().end().beginArray().end().end();
j.key("k\"").str("ab\0c");
j.key("nan").num(NaN);
j.end();
const wantJSON = "{\"s\":\"q\\\" b\\\\ nl\\n tab\\t cr\\r bs\\b ff\\f \\u0001\\u001f del\\u007f e\u00e9 \\u2028 \u{1F600}\"," +
  "\"lone\":\"\\ufffdx\\ufffd\",\"a\":[-42,0.5,true,false,null,null,{},[]],\"k\\\"\":\"ab\\u0000c\",\"nan\":null}";
check(j.toString() == wantJSON, "json\n got " + j.toString() + "\nwant " + wantJSON);
check(quote("plain") == "\"plain\"", "quote");

check(errName(DENIED) == "DENIED" && errName(99) == "UNKNOWN" && errText(2) == "connection refused", "errno names");
check(stateName(3) == "filtered" && stateName(200) == "invalid", "state names");
check(new Target("::1", 443).line() == "[::1]:443\n" && new Target("10.0.0.1", 22).line() == "10.0.0.1:22\n", "target lines");

// The fake host (run.mjs): 127.0.0.1 connects and answers "pong" then EOF;
// anything else is denied; probe state i%6 for target i.
function testNetwork(): void {
  check(connect("10.9.9.9", 80) === null && lastError == DENIED, "connect denied");
  const c = connect("127.0.0.1", 80, 100);
  check(c !== null && lastError == OK, "connect");
  if (c !== null) {
    check(c.sendString("x".repeat(70000)) == OK, "send 70000 bytes in pieces");
    const r = c.recvAll(100);
    check(r !== null && String.UTF8.decode(r.buffer) == "pong", "recvAll");
    check(c.recv(10) === null && lastError == EOF, "recv after EOF");
    check(c.close() == OK, "close");
  }
  const many = new Array<Target>(60000);
  for (let i = 0; i < many.length; i++) many[i] = new Target("host-" + (100000 + i).toString() + ".example.org", 65535);
  const states = probe(many, 0);
  check(states !== null && states.length == 60000, "probe");
  if (states !== null) {
    let ok = true;
    for (let i = 0; i < states.length; i++) if (states[i] != <u8>(i % 6)) ok = false;
    check(ok, "probe states in order across calls");
  }
  check(probe(new Array<Target>(MAX_PROBES + 1), 0) === null && lastError == LIMIT, "probe limit");
}
testNetwork();

// The spec from a manifest: names and types from inputSchema, in order; a
// malformed manifest or one without a name is refused.
const ms = specFromManifest(`{"name": "t-x", "version": "1.0.0", "inputSchema": {"type": "object", "properties": {
  "na\u006de": {"type": "string", "enum": ["a", {"b": [1, -2.5e3, true, null]}]},
  "count": {"type": "integer"}, "ratio": {"type": "number"}, "shout": {"type": "boolean"},
  "tag": {"type": "array", "items": {"type": "integer"}}, "any": {}}}, "x": [[], {}]}`);
check(ms.error == "" && ms.tool == "t-x", "manifest tool " + ms.tool + " " + ms.error);
check(ms.spec == "name count:int ratio:num shout:bool tag:int any", "manifest spec " + ms.spec);
const badManifests = ["", "{", `{"name": "x",}`, `{"version": "1"}`, `{"name": "x"} x`,
  `{"name": "x", "inputSchema": {"properties": {"a b": {}}}}`, "[1, 2"];
for (let i = 0; i < badManifests.length; i++) check(specFromManifest(badManifests[i]).error != "", "bad manifest " + badManifests[i]);
check(notGrantedMessage("t", "/data/in.txt") == "not granted: /data/in.txt (agent-ctl grant t --dir HOST_DIR:/data)", "not granted message");

if (failures > 0) {
  process.stderr.write(failures.toString() + " failures\n");
  process.exit(1);
}
process.stdout.write("ok: assemblyscript sdk\n");
