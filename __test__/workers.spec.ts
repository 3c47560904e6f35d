// worker_threads: sockets living in workers.
//
// Every scenario runs in a child process (so that descriptor counts are not disturbed by
// other tests, and so that "the process exits by itself afterwards" can be observed), once
// on udpx and once on node:dgram. The child prints one `RESULT {json}` line; the parent
// kills it after a deadline and records that it hung.

import test from 'ava';
import * as path from 'path';
import { limiter, runNode, scriptFile } from './helpers';

const UDPX = path.resolve(__dirname, '../index.js');
/** A child that has not exited by itself this long after spawn is killed and counted as hung. */
const DEADLINE_MS = 20000;

type Impl = 'node' | 'udpx';

const limited = limiter(4);

// The child: argv = [impl, scenario]. Worker code is passed with `eval: true`, and
// requires the same dgram implementation as its parent.
const CHILD = String.raw`
'use strict';
const { Worker } = require('worker_threads');
const fs = require('fs');
const [impl, scenario, UDPX] = process.argv.slice(2);
const MOD = impl === 'udpx' ? UDPX : 'node:dgram';
const dgram = require(MOD);
const REQ = 'const dgram = require(' + JSON.stringify(MOD) + '); const { parentPort, workerData } = require("worker_threads");';

const result = {};
function finish() { process.stdout.write('RESULT ' + JSON.stringify(result) + '\n'); }

/** Open descriptors, as "fd -> target" strings. */
function fds() {
  const out = [];
  for (const f of fs.readdirSync('/proc/self/fd')) {
    let target = '?';
    try { target = fs.readlinkSync('/proc/self/fd/' + f); } catch { continue; } // the readdir fd itself
    out.push(f + ' -> ' + target);
  }
  return out.sort();
}

function diff(before, after) {
  return {
    opened: after.filter((x) => !before.includes(x)),
    closed: before.filter((x) => !after.includes(x)),
  };
}

/** A worker whose messages are queued from the start, so that none is missed. */
function worker(body, workerData) {
  const w = new Worker(REQ + '\n' + body, { eval: true, workerData });
  w.inbox = [];
  w.waiting = [];
  w.failure = undefined;
  w.on('message', (m) => { const k = w.waiting.shift(); if (k) k.resolve(m); else w.inbox.push(m); });
  w.on('error', (e) => { w.failure = e; for (const k of w.waiting.splice(0)) k.reject(e); });
  return w;
}

function nextMessage(w) {
  if (w.inbox.length) return Promise.resolve(w.inbox.shift());
  if (w.failure) return Promise.reject(w.failure);
  return new Promise((resolve, reject) => w.waiting.push({ resolve, reject }));
}

/** Node opens a few descriptors once per process for its first worker (/dev/null for its stdio). */
async function warmUp() {
  const w = worker('parentPort.postMessage(1)');
  await nextMessage(w);
  await w.terminate();
}

/** Binds a fresh socket on the port without reuseAddr; resolves to 'listening' or the error code. */
function rebind(type, address, port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket(type);
    s.once('error', (e) => { s.close(); resolve({ error: e.code }); });
    s.bind(port, address, () => {
      const a = s.address();
      s.close(() => resolve({ listening: true, samePort: a.port === port }));
    });
  });
}

/** Sends each of 'texts' in turn (each after the previous callback). */
function sendAll(sock, texts, port, address) {
  return new Promise((resolve) => {
    let i = 0;
    const next = (err) => {
      if (err) result.sendError = err.code;
      if (i === texts.length) return resolve();
      sock.send(texts[i++], port, address, next);
    };
    next();
  });
}

// A worker with one udp4 (127.0.0.1) and one udp6 (::1) socket that reports every message.
const RECEIVER = ` + '`' + String.raw`
const a = dgram.createSocket('udp4');
const b = dgram.createSocket('udp6');
for (const s of [a, b]) s.on('message', (m, r) => parentPort.postMessage({ text: String(m), address: r.address, family: r.family, size: r.size }));
let n = 0;
const up = () => { if (++n === 2) parentPort.postMessage({ ports: [a.address().port, b.address().port] }); };
a.bind(0, '127.0.0.1', up);
b.bind(0, '::1', up);
` + '`' + String.raw`;

const scenarios = {
  // The main thread sends to sockets in a worker; the worker reports what it received.
  async receive() {
    const w = worker(RECEIVER);
    const { ports } = await nextMessage(w);
    const got = [];
    const all = (async () => { while (got.length < 20) got.push(await nextMessage(w)); })();
    const c4 = dgram.createSocket('udp4');
    const c6 = dgram.createSocket('udp6');
    const texts = Array.from({ length: 10 }, (_, i) => 'datagram-' + i);
    await sendAll(c4, texts, ports[0], '127.0.0.1');
    await sendAll(c6, texts, ports[1], '::1');
    // Bounded: after 4 s the partial list is reported (and the test fails on it).
    let backstop;
    await Promise.race([all, new Promise((r) => { backstop = setTimeout(r, 4000); })]);
    clearTimeout(backstop);
    c4.close();
    c6.close();
    result.received = got.map((m) => m.text + '|' + m.address + '|' + m.family + '|' + m.size).sort();
    result.exitCode = await w.terminate();
  },

  // terminate() while the socket is bound: the port is free again and no descriptor is left.
  async terminateBound() {
    await warmUp();
    const before = fds();
    const w = worker(RECEIVER);
    const { ports } = await nextMessage(w);
    result.exitCode = await w.terminate();
    result.rebind4 = await rebind('udp4', '127.0.0.1', ports[0]);
    result.rebind6 = await rebind('udp6', '::1', ports[1]);
    result.fds = diff(before, fds());
  },

  // The same with an unref'd socket (the worker stays alive through a timer).
  async terminateUnrefd() {
    await warmUp();
    const before = fds();
    const w = worker(` + '`' + String.raw`
      const s = dgram.createSocket('udp4');
      s.unref();
      setInterval(() => {}, 1000);
      s.bind(0, '127.0.0.1', () => parentPort.postMessage({ port: s.address().port }));
    ` + '`' + String.raw`);
    const { port } = await nextMessage(w);
    result.exitCode = await w.terminate();
    result.rebind = await rebind('udp4', '127.0.0.1', port);
    result.fds = diff(before, fds());
  },

  // A connected socket, and one that only joined a multicast group (libuv binds it then).
  async terminateConnectedAndMember() {
    await warmUp();
    const before = fds();
    const w = worker(` + '`' + String.raw`
      const c = dgram.createSocket('udp4');
      const m = dgram.createSocket('udp4');
      let joined;
      try { m.addMembership('224.0.0.114', '127.0.0.1'); joined = true; } catch (e) { joined = e.code; }
      c.connect(9, '127.0.0.1', () => parentPort.postMessage({ port: c.address().port, joined }));
    ` + '`' + String.raw`);
    const { port, joined } = await nextMessage(w);
    result.joined = joined;
    result.exitCode = await w.terminate();
    result.rebind = await rebind('udp4', '127.0.0.1', port);
    result.fds = diff(before, fds());
  },

  // terminate() while datagrams keep arriving.
  async terminateUnderTraffic() {
    await warmUp();
    const before = fds();
    const w = worker(RECEIVER);
    const { ports } = await nextMessage(w);
    const c = dgram.createSocket('udp4');
    let stop = false;
    let sent = 0;
    const pump = () => {
      if (stop || sent > 20000) return;
      for (let i = 0; i < 50; i++, sent++) c.send('flood', ports[0], '127.0.0.1');
      setImmediate(pump);
    };
    pump();
    await nextMessage(w); // at least one arrived
    result.exitCode = await w.terminate();
    stop = true;
    await new Promise((r) => c.close(r));
    result.rebind = await rebind('udp4', '127.0.0.1', ports[0]);
    result.fds = diff(before, fds());
  },

  // terminate() before the bind has completed (and before the worker even ran).
  async terminateEarly() {
    await warmUp();
    const before = fds();
    for (let i = 0; i < 10; i++) {
      const w = worker(` + '`' + String.raw`
        const s = dgram.createSocket('udp4');
        s.bind(0, '127.0.0.1');
        s.send('x', 9, '127.0.0.1');
        parentPort.postMessage('bound');
      ` + '`' + String.raw`);
      if (i % 2) await nextMessage(w);
      await w.terminate();
    }
    result.fds = diff(before, fds());
  },

  // process.exit() inside a worker with a bound socket: the same cleanup as terminate().
  async workerProcessExit() {
    await warmUp();
    const before = fds();
    const w = worker(` + '`' + String.raw`
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => { parentPort.postMessage(s.address().port); setImmediate(() => process.exit(3)); });
    ` + '`' + String.raw`);
    const exited = new Promise((r) => w.once('exit', r));
    const port = await nextMessage(w);
    result.exitCode = await exited;
    result.rebind = await rebind('udp4', '127.0.0.1', port);
    result.fds = diff(before, fds());
  },

  // terminate() and process.exit() while the worker is inside a 'message' handler with more
  // datagrams queued behind it: 10 rounds each, no crash, nothing left open.
  async terminateInsideHandler() {
    await warmUp();
    const before = fds();
    const codes = [];
    for (let round = 0; round < 20; round++) {
      const viaExit = round % 2 === 1;
      const w = worker(` + '`' + String.raw`
        const s = dgram.createSocket('udp4');
        s.on('message', () => {
          parentPort.postMessage('in handler');
          if (workerData.viaExit) process.exit(5);
          const until = Date.now() + 20;
          while (Date.now() < until) {} // busy: terminate() lands inside the handler
        });
        s.bind(0, '127.0.0.1', () => parentPort.postMessage(s.address().port));
      ` + '`' + String.raw`, { viaExit });
      const exited = new Promise((r) => w.once('exit', r));
      const port = await nextMessage(w);
      const c = dgram.createSocket('udp4');
      for (let i = 0; i < 50; i++) c.send('x', port, '127.0.0.1');
      await nextMessage(w);
      if (!viaExit) w.terminate();
      codes.push(await exited);
      await new Promise((r) => c.close(r));
    }
    result.codes = [...new Set(codes)].sort();
    result.fds = diff(before, fds());
  },

  // Workers that close their socket exit by themselves; a bound ref'd socket keeps one alive.
  async workerLifetime() {
    const closes = worker(` + '`' + String.raw`
      const s = dgram.createSocket('udp4');
      s.on('message', (m) => { s.close(() => parentPort.postMessage('closed ' + m)); });
      s.bind(0, '127.0.0.1', () => parentPort.postMessage(s.address().port));
    ` + '`' + String.raw`);
    const unrefs = worker(` + '`' + String.raw`
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => { s.unref(); parentPort.postMessage('unref'); });
    ` + '`' + String.raw`);
    const stays = worker(` + '`' + String.raw`
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => parentPort.postMessage('listening'));
    ` + '`' + String.raw`);
    const exited = (w) => new Promise((r) => w.once('exit', (code) => r(code)));
    const closesExit = exited(closes);
    const unrefsExit = exited(unrefs);
    let staysExited = false;
    stays.once('exit', () => { staysExited = true; });
    const port = await nextMessage(closes);
    const c = dgram.createSocket('udp4');
    await sendAll(c, ['bye'], port, '127.0.0.1');
    c.close();
    result.closesSaid = await nextMessage(closes);
    result.closesExit = await closesExit;
    result.unrefsSaid = await nextMessage(unrefs);
    result.unrefsExit = await unrefsExit;
    result.staysSaid = await nextMessage(stays);
    // The worker with a ref'd socket has had as long as the others to exit; it must not have.
    await new Promise((r) => setTimeout(r, 300));
    result.staysExited = staysExited;
    result.staysTerminate = await stays.terminate();
  },

  // 20 rounds of 3 workers with 2 bound, talking sockets each, then terminated: no
  // descriptor may be left behind. One warm-up round runs first (loads the addon, creates
  // whatever Node creates once per process for workers).
  async workerLoop() {
    const body = ` + '`' + String.raw`
      const socks = [dgram.createSocket('udp4'), dgram.createSocket('udp6')];
      let ready = 0;
      for (const [i, s] of socks.entries()) {
        s.on('message', () => { if (++ready === 2) parentPort.postMessage('ready'); });
        s.bind(0, i ? '::1' : '127.0.0.1', () => s.send('self', s.address().port, i ? '::1' : '127.0.0.1'));
      }
    ` + '`' + String.raw`;
    const round = async (r) => {
      const ws = [0, 1, 2].map(() => worker(body));
      // Odd rounds terminate one worker without waiting for it (mid-start-up).
      await Promise.all(ws.map((w, i) => (r % 2 && i === 0 ? null : nextMessage(w))));
      return Promise.all(ws.map((w) => w.terminate()));
    };
    await round(0);
    const before = fds();
    const codes = new Set();
    for (let r = 1; r <= 20; r++) for (const c of await round(r)) codes.add(c);
    result.exitCodes = [...codes];
    result.fds = diff(before, fds());
  },

  // process.exit() in the main thread while workers hold bound sockets: a clean exit.
  async exitWithLiveWorkers() {
    const ws = [worker(RECEIVER), worker(RECEIVER)];
    await Promise.all(ws.map(nextMessage));
    finish();
    process.exit(7);
  },
};

scenarios[scenario]().then(finish, (e) => { result.failed = String(e && e.stack || e); finish(); });
`;

const childPath = scriptFile('udpx-workers-', 'child.js', CHILD);

interface Outcome {
  result?: any;
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function run(impl: Impl, scenario: string): Promise<Outcome> {
  return limited(() => runNow(impl, scenario));
}

async function runNow(impl: Impl, scenario: string): Promise<Outcome> {
  const r = await runNode([childPath(), impl, scenario, UDPX], DEADLINE_MS);
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return { result: line ? JSON.parse(line.slice(7)) : undefined, exited: r.exited, code: r.code, signal: r.signal, stderr: r.stderr };
}

async function both(scenario: string): Promise<{ node: Outcome; udpx: Outcome; info: string }> {
  const [node, udpx] = await Promise.all([run('node', scenario), run('udpx', scenario)]);
  return { node, udpx, info: `node: ${JSON.stringify(node)}\nudpx: ${JSON.stringify(udpx)}` };
}

/** The child ran to its end and exited by itself with code 0, not by a signal. */
function cleanExit(t: any, o: Outcome, info: string, code = 0): void {
  t.truthy(o.result, `no RESULT line\n${info}`);
  t.falsy(o.result?.failed, info);
  t.true(o.exited, `the process did not exit by itself\n${info}`);
  t.is(o.signal, null, info);
  t.is(o.code, code, info);
}

const NO_FDS = { opened: [], closed: [] };

test('a socket in a worker receives datagrams from the main thread (udp4 and udp6)', async (t) => {
  const { node, udpx, info } = await both('receive');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  const expected = [];
  for (let i = 0; i < 10; i++) {
    expected.push(`datagram-${i}|127.0.0.1|IPv4|${`datagram-${i}`.length}`);
    expected.push(`datagram-${i}|::1|IPv6|${`datagram-${i}`.length}`);
  }
  t.deepEqual(node.result.received, expected.sort(), info);
  t.deepEqual(udpx.result.received, node.result.received, info);
  t.is(udpx.result.exitCode, node.result.exitCode, info);
});

test('terminate() closes a worker\'s bound sockets: the ports bind again, no descriptor left, process exits', async (t) => {
  const { node, udpx, info } = await both('terminateBound');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  for (const o of [node, udpx]) {
    t.deepEqual(o.result.rebind4, { listening: true, samePort: true }, info);
    t.deepEqual(o.result.rebind6, { listening: true, samePort: true }, info);
    t.deepEqual(o.result.fds, NO_FDS, info);
  }
  t.is(udpx.result.exitCode, node.result.exitCode, info);
});

test('terminate() closes an unref\'d socket in a worker', async (t) => {
  const { node, udpx, info } = await both('terminateUnrefd');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  t.deepEqual(udpx.result, node.result, info);
  t.deepEqual(udpx.result.rebind, { listening: true, samePort: true }, info);
  t.deepEqual(udpx.result.fds, NO_FDS, info);
});

test('terminate() closes a connected socket and a multicast member that was never bound explicitly', async (t) => {
  const { node, udpx, info } = await both('terminateConnectedAndMember');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  t.deepEqual(udpx.result, node.result, info);
  t.deepEqual(udpx.result.rebind, { listening: true, samePort: true }, info);
  t.deepEqual(udpx.result.fds, NO_FDS, info);
});

test('terminate() while datagrams keep arriving: no crash, port free, no descriptor left', async (t) => {
  const { node, udpx, info } = await both('terminateUnderTraffic');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  t.deepEqual(udpx.result, node.result, info);
  t.deepEqual(udpx.result.rebind, { listening: true, samePort: true }, info);
  t.deepEqual(udpx.result.fds, NO_FDS, info);
});

test('terminate() before a worker\'s bind completes leaves no descriptor', async (t) => {
  const { node, udpx, info } = await both('terminateEarly');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  t.deepEqual(udpx.result.fds, NO_FDS, info);
  t.deepEqual(node.result.fds, NO_FDS, info);
});

test('process.exit() inside a worker closes its bound socket', async (t) => {
  const { node, udpx, info } = await both('workerProcessExit');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  t.deepEqual(node.result, { exitCode: 3, rebind: { listening: true, samePort: true }, fds: NO_FDS }, info);
  t.deepEqual(udpx.result, node.result, info);
});

test('terminate() or process.exit() while a worker is inside its message handler: no crash, nothing left open', async (t) => {
  const { node, udpx, info } = await both('terminateInsideHandler');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  t.deepEqual(node.result, { codes: [1, 5], fds: NO_FDS }, info);
  t.deepEqual(udpx.result, node.result, info);
});

test('a worker exits by itself once its socket is closed or unref\'d, not while a ref\'d socket is bound', async (t) => {
  const { node, udpx, info } = await both('workerLifetime');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  t.like(node.result, { closesSaid: 'closed bye', closesExit: 0, unrefsExit: 0, staysExited: false }, info);
  t.deepEqual(udpx.result, node.result, info);
});

test('20 rounds of 3 workers with 2 sockets each, terminated: exactly the same descriptors afterwards', async (t) => {
  const { node, udpx, info } = await both('workerLoop');
  cleanExit(t, node, info);
  cleanExit(t, udpx, info);
  t.deepEqual(node.result.fds, NO_FDS, `the method itself (node:dgram)\n${info}`);
  t.deepEqual(udpx.result.fds, NO_FDS, info);
  // terminate() resolves 1, or 0 for a worker stopped before its thread ran any JS: Node's
  // own choice (seen with node:dgram too under load), so either is a terminated worker.
  for (const side of [node, udpx]) t.true(side.result.exitCodes.every((c: number) => c === 0 || c === 1), info);
  t.true(udpx.result.exitCodes.includes(1), info);
});

test('process.exit() while workers hold bound sockets exits cleanly with the given code', async (t) => {
  const { node, udpx, info } = await both('exitWithLiveWorkers');
  cleanExit(t, node, info, 7);
  cleanExit(t, udpx, info, 7);
  t.is(udpx.stderr, node.stderr, info);
});
