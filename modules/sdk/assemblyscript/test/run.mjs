// Runs agentctl_test.wasm (built by `make -C modules/sdk test`) under Node's WASI with a fake agent_ctl host that
// follows docs/host-functions.md, and checks the usage exit of Args.parse.
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

// The module to run: the first argument, else agentctl_test.wasm beside this file.
const path = process.argv[2] ?? new URL("./agentctl_test.wasm", import.meta.url);
const wasm = await WebAssembly.compile(readFileSync(path));

async function run(args) {
  const wasi = new WASI({ version: "preview1", args: ["agentctl_test", ...args], returnOnExit: true });
  let memory;
  const u8 = () => new Uint8Array(memory.buffer);
  const dv = () => new DataView(memory.buffer);
  let sent = 0, recvs = 0, probeCalls = 0, probed = 0;
  const fake = {
    net_connect(hostPtr, hostLen, port, timeout, out) {
      const host = new TextDecoder().decode(u8().subarray(hostPtr, hostPtr + hostLen));
      if (host !== "127.0.0.1") return 1;
      dv().setUint32(out, 7, true);
      return 0;
    },
    net_send(h, buf, len, out) {
      if (h !== 7) return 6;
      if (len > 65536) return 5;
      sent += len;
      dv().setUint32(out, len, true);
      return 0;
    },
    net_recv(h, buf, len, timeout, out) {
      if (h !== 7) return 6;
      if (recvs++ > 0) return 8;
      u8().set(new TextEncoder().encode("pong"), buf);
      dv().setUint32(out, 4, true);
      return 0;
    },
    net_close(h) { return h === 7 ? 0 : 6; },
    net_probe(ptr, len, timeout, results, resultsLen) {
      probeCalls++;
      if (len > 1 << 20) return 5;
      const text = new TextDecoder().decode(u8().subarray(ptr, ptr + len));
      const lines = text.split("\n").filter((l) => l !== "");
      if (resultsLen < lines.length || probed + lines.length > 65536) return 7;
      for (let i = 0; i < lines.length; i++) u8()[results + i] = (probed + i) % 6;
      probed += lines.length;
      return 0;
    },
  };
  const inst = await WebAssembly.instantiate(wasm, { wasi_snapshot_preview1: wasi.wasiImport, agent_ctl: fake });
  memory = inst.exports.memory;
  const code = wasi.start(inst);
  return { code, sent, probeCalls };
}

let r = await run([]);
if (r.code !== 0) process.exit(1);
if (r.sent !== 70001 - 1 || r.probeCalls !== 2) {
  console.error(`FAIL: fake host saw ${r.sent} bytes sent, ${r.probeCalls} probe calls; want 70000 and 2`);
  process.exit(1);
}
r = await run(["--count", "x"]);
if (r.code !== 2) {
  console.error(`FAIL: Args.parse of a bad --count: exit ${r.code}, want 2`);
  process.exit(1);
}
console.log("ok: assemblyscript usage exit 2");
