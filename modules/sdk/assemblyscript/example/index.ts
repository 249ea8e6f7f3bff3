// sdk-example-as: the AssemblyScript SDK's example tool. Greets someone,
// prints its parameters as one JSON document, and with --host/--port probes
// that TCP service, sends it the greeting and prints the reply. Exit 0, 1 when
// the network call failed (the JSON says why), 2 for a usage error.
import { Args, JsonWriter, Target, connect, probe, lastError, errName, errText, stateName, OK } from "../agentctl";

const args = Args.parse("sdk-example-as", "name count:int shout:bool tag host port:int");
let greeting = "hello, " + args.require("name");
if (args.bool("shout")) {
  // ASCII letters only, as the other languages' examples do.
  const codes = new Array<i32>(greeting.length);
  for (let i = 0; i < greeting.length; i++) {
    const c = greeting.charCodeAt(i);
    codes[i] = c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
  }
  greeting = String.fromCharCodes(codes);
}

const j = new JsonWriter();
j.beginObject();
j.key("greeting").str(greeting);
j.key("count").int(args.int("count", 1));
j.key("tags").beginArray();
const tags = args.all("tag");
for (let i = 0; i < tags.length; i++) j.str(tags[i]);
j.end();
j.key("net");
let err = OK;
if (!args.has("host")) {
  j.null();
} else {
  const host = args.str("host");
  const port = args.int("port", 0);
  if (port < 1 || port > 65535) args.usage("--host needs --port, 1 to 65535");
  j.beginObject();
  const states = probe([new Target(host, <i32>port)], 2000);
  j.key("probe").str(states === null ? null : stateName(states[0]));
  let reply: string | null = null;
  if (states !== null) {
    const c = connect(host, <i32>port, 2000);
    if (c !== null) {
      if (c.sendString(greeting + "\n") == OK) {
        const b = c.recvAll(4096, 2000);
        if (b !== null) reply = String.UTF8.decode(b.buffer);
      }
      const sendErr = lastError;
      c.close();
      err = sendErr;
    } else {
      err = lastError;
    }
  } else {
    err = lastError;
  }
  j.key("reply").str(reply);
  j.key("error").str(err == OK ? null : errName(err));
  j.end();
}
j.end();
j.print();
if (err != OK) args.fail(1, args.str("host") + ":" + args.int("port", 0).toString() + ": " + errText(err));
