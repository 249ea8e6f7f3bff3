#!/usr/bin/env node
// client.mjs: a real MCP client (the official TypeScript SDK) that agent-ctl's
// end-to-end tests drive. It reads one JSON spec (stdin, --spec FILE or
// --spec-json TEXT), connects over stdio or Streamable HTTP, runs the spec's
// steps in order and prints one JSON document on stdout. See README.md for
// the spec, the output and the exit codes.
//
// It never hangs: every request has a timeout, and an overall timeout prints
// what was done so far, kills any server it spawned and exits 2.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const EXIT_OK = 0; // connected, and every step met its expectation
const EXIT_STEPS = 1; // connected, but at least one step did not
const EXIT_HARNESS = 2; // bad spec, no connection, or the overall timeout

const DEFAULT_OVERALL_MS = 60_000;
const DEFAULT_REQUEST_MS = 30_000;
const STDERR_TAIL = 16 * 1024;
const KEPT_LOGS = 100;

const out = { ok: false, steps: [] };
const connections = []; // every open connection, closed (or killed) on exit
let finished = false;

function now() {
  return performance.now();
}

function round(ms) {
  return Math.round(ms * 1000) / 1000;
}

// describeError keeps what a test can assert on: the JSON-RPC or HTTP code,
// the message, and any error data.
function describeError(err) {
  if (err === null || err === undefined) return { message: String(err) };
  const e = { message: err.message ?? String(err) };
  if (err.code !== undefined) e.code = err.code;
  if (err.data !== undefined) e.data = err.data;
  if (err.name && err.name !== 'Error') e.name = err.name;
  // fetch hides the reason (refused, certificate, ...) in its cause.
  if (err.cause !== undefined) e.cause = describeError(err.cause);
  return e;
}

// fill replaces {i}, {client} and {call} in every string of args, so that
// concurrent calls can each carry their own value and be told apart.
function fill(value, vars) {
  if (typeof value === 'string') {
    return value.replace(/\{(i|client|call)\}/g, (_, k) => String(vars[k]));
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, vars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, vars)]));
  }
  return value;
}

function stats(samples) {
  if (samples.length === 0) return { n: 0 };
  const s = [...samples].sort((a, b) => a - b);
  const pick = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return {
    n: s.length,
    min: round(s[0]),
    p50: round(pick(50)),
    p90: round(pick(90)),
    p99: round(pick(99)),
    max: round(s[s.length - 1]),
    mean: round(mean),
  };
}

function countErrors(errors) {
  const counts = {};
  for (const e of errors) {
    const key = e.code !== undefined ? `${e.code}: ${e.message}` : e.message;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

function firstText(result) {
  const t = result?.content?.find((c) => c.type === 'text');
  return t ? t.text : undefined;
}

// makeFetch returns a fetch that trusts the CA in caFile (for a server with a
// self-signed certificate), or undefined for the built-in fetch.
async function makeFetch(caFile) {
  if (!caFile) return undefined;
  const { Agent, fetch } = await import('undici');
  const dispatcher = new Agent({ connect: { ca: readFileSync(caFile) } });
  return (url, init) => fetch(url, { ...init, dispatcher });
}

// connect opens one client connection as spec.transport says.
async function connect(spec, label) {
  const t = spec.transport ?? {};
  const conn = { label, notifications: {}, logs: [], listChanged: 0, listChangedWaiters: [], stderr: '' };
  let transport;
  if (t.type === 'stdio') {
    if (!t.command) throw new Error('transport.command is required for stdio');
    const env = t.inheritEnv === false ? { ...(t.env ?? {}) } : { ...process.env, ...(t.env ?? {}) };
    transport = new StdioClientTransport({
      command: t.command,
      args: t.args ?? [],
      env,
      cwd: t.cwd,
      stderr: t.stderr ?? 'pipe',
    });
    if ((t.stderr ?? 'pipe') === 'pipe' && transport.stderr) {
      transport.stderr.on('data', (chunk) => {
        conn.stderr = (conn.stderr + chunk.toString()).slice(-STDERR_TAIL);
      });
    }
  } else if (t.type === 'http') {
    if (!t.url) throw new Error('transport.url is required for http');
    const headers = { ...(t.headers ?? {}) };
    if (t.token) headers.Authorization = `Bearer ${t.token}`;
    transport = new StreamableHTTPClientTransport(new URL(t.url), {
      requestInit: { headers },
      fetch: await makeFetch(t.caFile),
    });
  } else {
    throw new Error(`transport.type must be "stdio" or "http", not ${JSON.stringify(t.type)}`);
  }
  conn.transport = transport;
  if (transport instanceof StdioClientTransport) {
    // Keep the pid: the SDK forgets it when a failed connect closes the
    // transport, and a server that ignores its closed stdin would outlive us.
    const start = transport.start.bind(transport);
    transport.start = async () => {
      await start();
      conn.pid = transport.pid;
      transport._process?.once('exit', () => {
        conn.exited = true;
      });
    };
  }

  // Progress is read off the wire: the SDK hands notifications to handlers a
  // microtask late but settles the response at once, so a progress
  // notification that arrives in the same read as the result never reaches
  // onprogress (seen on stdio with the go-sdk: the last one of every call).
  conn.progress = new Map();
  const send = transport.send.bind(transport);
  transport.send = (msg, options) => {
    const token = msg?.params?._meta?.progressToken;
    if (msg?.method === 'tools/call' && token !== undefined) conn.lastProgressToken = token;
    return send(msg, options);
  };

  // Record the negotiated protocol version and every notification by method,
  // below the SDK, whatever the transport.
  let onmessage;
  Object.defineProperty(transport, 'onmessage', {
    configurable: true,
    get: () => onmessage,
    set: (fn) => {
      onmessage = (msg, extra) => {
        if (msg?.result?.protocolVersion && conn.protocolVersion === undefined) {
          conn.protocolVersion = msg.result.protocolVersion;
        }
        if (msg?.method && msg.id === undefined) {
          conn.notifications[msg.method] = (conn.notifications[msg.method] ?? 0) + 1;
          if (msg.method === 'notifications/progress') {
            const { progressToken, ...p } = msg.params ?? {};
            if (!conn.progress.has(progressToken)) conn.progress.set(progressToken, []);
            conn.progress.get(progressToken).push({ ...p, at: now() });
          }
        }
        fn?.(msg, extra);
      };
    },
  });

  const client = new Client(
    spec.clientInfo ?? { name: 'agent-ctl-e2e', version: '0.0.0' },
    { capabilities: spec.capabilities ?? {} },
  );
  conn.client = client;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    conn.listChanged++;
    for (const w of conn.listChangedWaiters.splice(0)) w();
  });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    if (conn.logs.length < KEPT_LOGS) conn.logs.push(n.params);
  });
  conn.closed = false;
  client.onclose = () => {
    conn.closed = true;
  };
  connections.push(conn);
  await client.connect(transport, { timeout: spec.connectTimeoutMs ?? DEFAULT_REQUEST_MS });
  return conn;
}

async function closeConn(conn) {
  try {
    if (conn.transport instanceof StreamableHTTPClientTransport && conn.transport.sessionId) {
      await conn.transport.terminateSession().catch(() => {});
    }
    await conn.client.close();
  } catch {
    // Closing is best effort: the result is already recorded.
  }
}

function killAll() {
  for (const conn of connections) {
    const pid = conn.pid;
    if (pid && !conn.exited) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

function requestOptions(step, spec) {
  return { timeout: step.timeoutMs ?? spec.requestTimeoutMs ?? DEFAULT_REQUEST_MS };
}

async function callOnce(conn, step, spec, args, extra = {}) {
  return conn.client.callTool({ name: step.name, arguments: args }, CallToolResultSchema, {
    ...requestOptions(step, spec),
    ...extra,
  });
}

// wireProgress returns the progress notifications that came for the last
// tools/call sent with a progress token, with their arrival times in ms since t0.
function wireProgress(conn, t0) {
  const list = conn.progress.get(conn.lastProgressToken) ?? [];
  conn.progress.delete(conn.lastProgressToken);
  return list.map(({ at, ...p }) => ({ ...p, atMs: round(at - t0) }));
}

// Each op returns the step's data; a thrown error becomes the step's error.
const ops = {
  async ping(conn, step, spec) {
    await conn.client.ping(requestOptions(step, spec));
    return {};
  },

  async listTools(conn, step, spec) {
    const tools = [];
    let cursor;
    do {
      const page = await conn.client.listTools(cursor ? { cursor } : {}, requestOptions(step, spec));
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    return step.namesOnly ? { names: tools.map((t) => t.name) } : { tools };
  },

  // callTool makes one call. With progress, it asks for progress
  // notifications and reports every one that came for the call (progress),
  // and how many the SDK delivered to its onprogress callback (delivered).
  async callTool(conn, step, spec) {
    const t0 = now();
    const extra = {};
    let delivered = 0;
    if (step.progress) {
      extra.onprogress = () => delivered++;
      extra.resetTimeoutOnProgress = step.resetTimeoutOnProgress ?? false;
    }
    const result = await callOnce(conn, step, spec, step.args ?? {}, extra);
    if (!step.progress) return { result };
    return { result, progress: wireProgress(conn, t0), delivered };
  },

  // cancel starts a call and aborts it after afterMs: the SDK then sends
  // notifications/cancelled and rejects the call. "cancelled" says whether the
  // abort came first; a call that finished before it reports its result.
  async cancel(conn, step, spec) {
    const controller = new AbortController();
    const t0 = now();
    const timer = setTimeout(() => controller.abort(step.reason ?? 'cancelled by the test'), step.afterMs ?? 100);
    const extra = { signal: controller.signal };
    if (step.progress) extra.onprogress = () => {};
    try {
      const result = await callOnce(conn, step, spec, step.args ?? {}, extra);
      return { cancelled: false, result, progress: step.progress ? wireProgress(conn, t0) : undefined };
    } catch (err) {
      if (!controller.signal.aborted) throw err;
      const rejectedAfterMs = round(now() - t0);
      // Let progress already on its way arrive, so that a test can see the
      // server stopped sending it.
      if (step.progress) await new Promise((r) => setTimeout(r, step.settleMs ?? 200));
      return { cancelled: true, rejectedAfterMs, error: describeError(err), progress: step.progress ? wireProgress(conn, t0) : undefined };
    } finally {
      clearTimeout(timer);
    }
  },

  // waitToolsListChanged returns once a notifications/tools/list_changed has
  // arrived that no earlier wait consumed (it may have come before this step).
  async waitToolsListChanged(conn, step) {
    conn.listChangedSeen = conn.listChangedSeen ?? 0;
    const t0 = now();
    if (conn.listChanged <= conn.listChangedSeen) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const err = new Error(`no notifications/tools/list_changed within ${step.timeoutMs ?? 5000} ms`);
          err.code = 'timeout';
          reject(err);
        }, step.timeoutMs ?? 5000);
        conn.listChangedWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    conn.listChangedSeen++;
    return { received: conn.listChanged, waitedMs: round(now() - t0) };
  },

  async setLogLevel(conn, step, spec) {
    await conn.client.setLoggingLevel(step.level ?? 'debug', requestOptions(step, spec));
    return {};
  },

  async sleep(conn, step) {
    await new Promise((r) => setTimeout(r, step.ms ?? 0));
    return {};
  },

  // mark writes {"mark": label} as one line on stderr, so that a test reading
  // stderr knows the steps before it are done (for example, before it adds a
  // tool and expects a waitToolsListChanged step to see it).
  async mark(conn, step) {
    await new Promise((r) => process.stderr.write(JSON.stringify({ mark: step.label ?? '' }) + '\n', r));
    return {};
  },

  // concurrent makes `calls` calls on each of `clients` connections at once,
  // or, with `sequential`, one after another on each connection (a client
  // that waits for each answer: `clients` calls in flight in all).
  // clients 1 reuses the main connection; more open new ones (for stdio, one
  // server process each), which are closed afterwards.
  async concurrent(conn, step, spec) {
    const nClients = step.clients ?? 1;
    const nCalls = step.calls ?? 1;
    const conns = [conn];
    try {
      for (let c = 1; c < nClients; c++) conns.push(await connect(spec, `concurrent-${c}`));
      const t0 = now();
      const one = async (c, k) => {
        const vars = { i: c * nCalls + k, client: c, call: k };
        const s = now();
        try {
          const result = await callOnce(conns[c], step, spec, fill(step.args ?? {}, vars));
          return { ms: now() - s, result, vars };
        } catch (err) {
          return { ms: now() - s, error: describeError(err), vars };
        }
      };
      const jobs = [];
      for (let c = 0; c < nClients; c++) {
        if (step.sequential) {
          jobs.push((async () => {
            const mine = [];
            for (let k = 0; k < nCalls; k++) mine.push(await one(c, k));
            return mine;
          })());
        } else {
          for (let k = 0; k < nCalls; k++) jobs.push(one(c, k).then((d) => [d]));
        }
      }
      const done = (await Promise.all(jobs)).flat();
      const wallMs = now() - t0;
      const errors = done.filter((d) => d.error).map((d) => d.error);
      const data = {
        clients: nClients,
        calls: done.length,
        ok: done.length - errors.length,
        isError: done.filter((d) => d.result?.isError).length,
        errors: countErrors(errors),
        wallMs: round(wallMs),
        latencyMs: stats(done.map((d) => d.ms)),
      };
      if (step.collect) {
        data.results = done.map((d) => ({ ...d.vars, text: firstText(d.result), isError: d.result?.isError ?? false, error: d.error }));
      }
      return data;
    } finally {
      for (const c of conns.slice(1)) await closeConn(c);
    }
  },

  // latency makes `count` calls, back to back (ratePerSec 0) or started at a
  // fixed rate whether or not the previous call has returned, after `warmup`
  // unmeasured calls. It reports client-side milliseconds per call.
  async latency(conn, step, spec) {
    const args = step.args ?? {};
    return measure(step, async (i) => {
      const r = await callOnce(conn, step, spec, fill(args, { i, client: 0, call: i }));
      return r.isError;
    });
  },

  // spawnLatency is the native baseline of `latency`: the same client, on
  // the same schedule, starts `command` with `args` as a child process per
  // "call" and waits for its exit and all of its stdout (what an MCP client
  // does when it runs a native tool itself). A non-zero exit counts as
  // isError.
  async spawnLatency(conn, step) {
    return measure(step, (i) => new Promise((resolve, reject) => {
      const child = spawn(step.command, step.args ?? [], { stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout.on('data', () => {});
      child.on('error', reject);
      child.on('close', (code) => resolve(code !== 0));
    }));
  },
  // close ends the main connection (for stdio: closes the server's stdin, then
  // SIGTERM, then SIGKILL); steps after it fail.
  async close(conn) {
    await closeConn(conn);
    return {};
  },
};

const EXPECTATIONS = ['result', 'error', 'isError', 'any'];

// meets says whether a step's outcome is what the spec expected: "result"
// (the default: no error, isError allowed), "error" (a protocol or transport
// error), "isError" (a tool result with isError true) or "any".
function meets(expect, rec) {
  switch (expect) {
    case 'error':
      return rec.error !== undefined || rec.data?.cancelled === true;
    case 'isError':
      return rec.error === undefined && rec.data?.result?.isError === true;
    case 'any':
      return true;
    default:
      return rec.error === undefined;
  }
}

function summarize(conn) {
  if (!conn) return;
  out.server = conn.client.getServerVersion();
  out.protocolVersion = conn.protocolVersion;
  out.capabilities = conn.client.getServerCapabilities();
  const instructions = conn.client.getInstructions();
  if (instructions) out.instructions = instructions;
  out.notifications = conn.notifications;
  out.logs = conn.logs;
  if (conn.pid) out.serverPID = conn.pid;
  if (conn.stderr) out.serverStderr = conn.stderr;
}

function emit(code) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(out, null, 2) + '\n', () => process.exit(code));
}

async function readSpec(argv) {
  const i = argv.indexOf('--spec');
  if (i >= 0) return JSON.parse(readFileSync(argv[i + 1], 'utf8'));
  const j = argv.indexOf('--spec-json');
  if (j >= 0) return JSON.parse(argv[j + 1]);
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stderr.write('usage: client.mjs [--spec FILE | --spec-json JSON]  (default: the spec as JSON on stdin)\n');
    process.exit(EXIT_HARNESS);
  }
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
  let spec;
  try {
    spec = await readSpec(process.argv.slice(2));
    for (const [n, step] of (spec.steps ?? []).entries()) {
      if (!ops[step.op]) throw new Error(`step ${n}: unknown op ${JSON.stringify(step.op)}`);
      if (step.expect && !EXPECTATIONS.includes(step.expect)) throw new Error(`step ${n}: unknown expect ${JSON.stringify(step.expect)}`);
    }
  } catch (err) {
    out.error = { message: `reading the spec: ${err.message}` };
    return emit(EXIT_HARNESS);
  }

  const overall = spec.timeoutMs ?? DEFAULT_OVERALL_MS;
  setTimeout(() => {
    out.error = { code: 'timeout', message: `overall timeout after ${overall} ms` };
    summarize(connections[0]);
    killAll();
    emit(EXIT_HARNESS);
  }, overall);

  let conn;
  const c0 = now();
  try {
    conn = await connect(spec, 'main');
    out.connect = { ok: true, ms: round(now() - c0) };
  } catch (err) {
    out.connect = { ok: false, ms: round(now() - c0), error: describeError(err) };
    out.error = { message: 'connecting to the server', cause: describeError(err) };
    summarize(connections[0]);
    killAll();
    return emit(EXIT_HARNESS);
  }

  let allOK = true;
  for (const step of spec.steps ?? []) {
    const rec = { op: step.op };
    if (step.name) rec.name = step.name;
    if (step.label) rec.label = step.label;
    out.steps.push(rec);
    const s = now();
    try {
      rec.data = await ops[step.op](conn, step, spec);
    } catch (err) {
      rec.error = describeError(err);
    }
    rec.ms = round(now() - s);
    rec.ok = meets(step.op === 'cancel' ? step.expect ?? 'error' : step.expect, rec);
    allOK &&= rec.ok;
  }

  summarize(conn);
  out.ok = allOK;
  for (const c of connections) await closeConn(c);
  emit(allOK ? EXIT_OK : EXIT_STEPS);
}

main().catch((err) => {
  out.error = { message: `harness error: ${err?.stack ?? err}` };
  killAll();
  emit(EXIT_HARNESS);
});

// measure runs one(i) `count` times after `warmup` unmeasured runs, back to
// back (ratePerSec 0) or started at a fixed rate whether or not the previous
// one has finished (open loop); one resolves to true for an isError outcome.
async function measure(step, one) {
  const count = step.count ?? 100;
  const rate = step.ratePerSec ?? 0;
  for (let i = 0; i < (step.warmup ?? 5); i++) await one(-1 - i);
  const samples = [];
  const errors = [];
  let isError = 0;
  const timed = async (i) => {
    const s = now();
    try {
      if (await one(i)) isError++;
      samples.push(now() - s);
    } catch (err) {
      errors.push(describeError(err));
    }
  };
  const t0 = now();
  if (rate <= 0) {
    for (let i = 0; i < count; i++) await timed(i);
  } else {
    const interval = 1000 / rate;
    const pending = [];
    for (let i = 0; i < count; i++) {
      const wait = t0 + i * interval - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(timed(i));
    }
    await Promise.all(pending);
  }
  return {
    count,
    ratePerSec: rate,
    ok: samples.length,
    isError,
    errors: countErrors(errors),
    wallMs: round(now() - t0),
    latencyMs: stats(samples),
  };
}
