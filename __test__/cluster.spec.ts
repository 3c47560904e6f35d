// cluster: UDP sockets bound by cluster workers.
//
// node:dgram shares one socket among the workers through the primary (a worker's
// non-exclusive bind asks the primary for the handle, keyed by address, port, type and the
// socket's index in that worker); with `exclusive: true` each worker binds on its own. A
// primary child process forks 2 workers (cluster.setupPrimary with `exec` pointing at a
// worker script written to a temp file) and reports what they saw; each scenario runs once
// on udpx and once on node:dgram (the workers load the implementation under test; the
// primary's own sockets are always node:dgram).

import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { limiter, runNode } from './helpers';

const UDPX = path.resolve(__dirname, '../index.js');
const DEADLINE_MS = 15000;
const DATAGRAMS = 20;

type Impl = 'node' | 'udpx';

const limited = limiter(4);

// env: IMPL (module path), PORT, EXCL ('1' = exclusive), COUNT (sockets in this worker).
const WORKER = String.raw`
'use strict';
const dgram = require(process.env.IMPL);
const port = Number(process.env.PORT);
const exclusive = process.env.EXCL === '1';
const socks = [];
for (let i = 0; i < Number(process.env.COUNT); i++) {
  const s = dgram.createSocket('udp4');
  socks.push(s);
  s.on('error', (e) => {
    process.send({ sock: i, event: 'error', code: e.code, syscall: e.syscall, address: e.address, port: e.port, message: e.message });
  });
  s.on('message', (m, r) => process.send({ sock: i, event: 'message', text: String(m), from: r.address }));
  s.bind({ port, address: '127.0.0.1', exclusive }, () => process.send({ sock: i, event: 'listening', address: s.address() }));
}
process.on('message', (m) => {
  if (m !== 'close') return;
  for (const s of socks) { try { s.close(); } catch {} }
  process.disconnect();
});
`;

// argv: workerFile, impl module, scenario (exclusive '0'|'1', port 'fixed'|'zero', count).
const PRIMARY = String.raw`
'use strict';
const cluster = require('cluster');
const dgram = require('node:dgram');
const [workerFile, implModule, excl, portMode, count] = process.argv.slice(2);
cluster.setupPrimary({ exec: workerFile, silent: false });
const result = { workers: [], sent: 0 };
const finish = () => process.stdout.write('RESULT ' + JSON.stringify(result) + '\n');

const probe = dgram.createSocket('udp4');
probe.bind(0, '127.0.0.1', () => {
  const P = portMode === 'zero' ? 0 : probe.address().port;
  result.P = P;
  probe.close(() => start(P));
});

function start(P) {
  const expected = 2 * Number(count);
  let settled = 0;
  const received = [];
  let onReceived = () => {};
  const ws = [0, 1].map((i) => {
    const w = cluster.fork({ IMPL: implModule, PORT: String(P), EXCL: excl, COUNT: count });
    const rec = { events: [], exitCode: null };
    result.workers.push(rec);
    w.on('message', (m) => {
      if (m.event === 'message') {
        received.push({ worker: i, sock: m.sock, text: m.text, from: m.from });
        onReceived();
        return;
      }
      rec.events.push(m);
      if (++settled === expected) allSettled();
    });
    w.on('exit', (code, signal) => { rec.exitCode = code; rec.signal = signal; });
    return w;
  });

  const closeAll = () => {
    result.received = received;
    let exited = 0;
    for (const w of ws) {
      w.once('exit', () => { if (++exited === ws.length) finish(); });
      if (w.isConnected()) w.send('close'); else w.kill();
    }
  };

  function allSettled() {
    const ports = [];
    for (const r of result.workers) for (const e of r.events) if (e.event === 'listening') ports.push(e.address.port);
    const target = P || ports[0];
    if (!target) return closeAll();
    // Sends one after another; then waits (bounded) for all of them to be reported.
    const c = dgram.createSocket('udp4');
    const backstop = setTimeout(() => { c.close(); closeAll(); }, 4000);
    onReceived = () => {
      if (received.length === ${DATAGRAMS}) { clearTimeout(backstop); c.close(); closeAll(); }
    };
    const next = () => {
      if (result.sent === ${DATAGRAMS}) return;
      c.send('d' + result.sent++, target, '127.0.0.1', next);
    };
    next();
  }
}
`;

let files: { worker: string; primary: string } | undefined;
test.after.always(() => {
  if (files) fs.rmSync(path.dirname(files.worker), { recursive: true, force: true });
});
function scripts() {
  if (!files) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udpx-cluster-'));
    files = { worker: path.join(dir, 'worker.js'), primary: path.join(dir, 'primary.js') };
    fs.writeFileSync(files.worker, WORKER);
    fs.writeFileSync(files.primary, PRIMARY);
  }
  return files;
}

interface WorkerRecord {
  events: any[];
  exitCode: number | null;
  signal?: string | null;
}

interface Result {
  P: number;
  sent: number;
  workers: WorkerRecord[];
  received: Array<{ worker: number; sock: number; text: string; from: string }>;
}

interface Outcome {
  result?: Result;
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function run(impl: Impl, exclusive: boolean, portMode: 'fixed' | 'zero', count: number): Promise<Outcome> {
  return limited(() => runNow(impl, exclusive, portMode, count));
}

async function runNow(impl: Impl, exclusive: boolean, portMode: 'fixed' | 'zero', count: number): Promise<Outcome> {
  const { worker, primary } = scripts();
  const mod = impl === 'udpx' ? UDPX : 'node:dgram';
  // Killing the primary at the deadline is enough: its workers exit on the closed IPC channel.
  const r = await runNode([primary, worker, mod, exclusive ? '1' : '0', portMode, String(count)], DEADLINE_MS);
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return { result: line ? JSON.parse(line.slice(7)) : undefined, exited: r.exited, code: r.code, signal: r.signal, stderr: r.stderr };
}

/** Each worker's bind outcomes, with the fixed port replaced by 'P', in a stable order. */
function bindOutcomes(r: Result): string[] {
  const out: string[] = [];
  for (const w of r.workers) {
    for (const e of w.events) {
      const fix = (p: unknown) => (r.P && p === r.P ? 'P' : p);
      if (e.event === 'listening') out.push(`sock${e.sock} listening ${e.address.address} ${e.address.family} ${fix(e.address.port)}`);
      else out.push(`sock${e.sock} error ${e.code} ${e.syscall} ${e.address} ${fix(e.port)} ${String(e.message).replace(String(r.P), 'P')}`);
    }
  }
  return out.sort();
}

function checkClean(t: any, o: Outcome, info: string): Result {
  t.truthy(o.result, `no RESULT line\n${info}`);
  t.true(o.exited, `the primary did not exit by itself\n${info}`);
  t.is(o.code, 0, info);
  t.is(o.signal, null, info);
  const r = o.result!;
  for (const w of r?.workers ?? []) t.is(w.exitCode, 0, info);
  return r;
}

/** The outcome for a failure message, with the received datagrams counted per worker socket. */
function summary(o: Outcome): string {
  if (!o.result) return JSON.stringify(o);
  const per: Record<string, number> = {};
  for (const m of o.result.received ?? []) per[`worker${m.worker}.sock${m.sock}`] = (per[`worker${m.worker}.sock${m.sock}`] ?? 0) + 1;
  return JSON.stringify({ ...o, result: { ...o.result, received: per } });
}

async function both(exclusive: boolean, portMode: 'fixed' | 'zero', count: number) {
  const [node, udpx] = await Promise.all([
    run('node', exclusive, portMode, count),
    run('udpx', exclusive, portMode, count),
  ]);
  return { node, udpx, info: `node: ${summary(node)}\nudpx: ${summary(udpx)}` };
}

function checkDelivery(t: any, r: Result, info: string): void {
  t.is(r.sent, DATAGRAMS, info);
  const texts = r.received.map((m) => m.text).sort();
  const expected = Array.from({ length: DATAGRAMS }, (_, i) => `d${i}`).sort();
  // Every datagram reached exactly one worker's socket.
  t.deepEqual(texts, expected, info);
  t.true(r.received.every((m) => m.from === '127.0.0.1'), info);
}

test('two cluster workers bind the same port with exclusive: false; datagrams reach them', async (t) => {
  const { node, udpx, info } = await both(false, 'fixed', 1);
  const n = checkClean(t, node, info);
  const u = checkClean(t, udpx, info);
  const both2 = ['sock0 listening 127.0.0.1 IPv4 P', 'sock0 listening 127.0.0.1 IPv4 P'];
  t.deepEqual(bindOutcomes(n), both2, info);
  t.deepEqual(bindOutcomes(u), both2, info);
  checkDelivery(t, n, info);
  checkDelivery(t, u, info);
});

test('with exclusive: true the second cluster worker gets EADDRINUSE, as with node:dgram', async (t) => {
  const { node, udpx, info } = await both(true, 'fixed', 1);
  const n = checkClean(t, node, info);
  const u = checkClean(t, udpx, info);
  const expected = [
    'sock0 error EADDRINUSE bind 127.0.0.1 P bind EADDRINUSE 127.0.0.1:P',
    'sock0 listening 127.0.0.1 IPv4 P',
  ];
  t.deepEqual(bindOutcomes(n), expected, info);
  t.deepEqual(bindOutcomes(u), expected, info);
  checkDelivery(t, n, info);
  checkDelivery(t, u, info);
});

// node:dgram: the primary binds port 0 once and hands the same socket to both workers, so
// both report the same port.
test('cluster workers binding port 0 with exclusive: false share one port', async (t) => {
  const { node, udpx, info } = await both(false, 'zero', 1);
  const n = checkClean(t, node, info);
  const u = checkClean(t, udpx, info);
  const ports = (r: Result) => r.workers.map((w) => w.events.find((e) => e.event === 'listening')?.address.port);
  const [a, b] = ports(n);
  t.true(a > 0 && a === b, `node:dgram workers share the port\n${info}`);
  const [c, d] = ports(u);
  t.true(c > 0, info);
  t.is(d, c, `udpx workers got different ports for port 0\n${info}`);
});

// node:dgram: the second socket in the same worker has index 1, so the primary binds a
// second handle to the port, which fails.
test('two sockets in one cluster worker on the same port (exclusive: false): the second gets EADDRINUSE', async (t) => {
  const { node, udpx, info } = await both(false, 'fixed', 2);
  const n = checkClean(t, node, info);
  const u = checkClean(t, udpx, info);
  const expected = [
    'sock0 listening 127.0.0.1 IPv4 P',
    'sock0 listening 127.0.0.1 IPv4 P',
    'sock1 error EADDRINUSE bind 127.0.0.1 P bind EADDRINUSE 127.0.0.1:P',
    'sock1 error EADDRINUSE bind 127.0.0.1 P bind EADDRINUSE 127.0.0.1:P',
  ];
  t.deepEqual(bindOutcomes(n), expected, info);
  t.deepEqual(bindOutcomes(u), expected, info);
});
