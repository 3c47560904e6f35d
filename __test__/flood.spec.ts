// A sustained flood from a second udpx socket in a child process into a slow receiver:
// the event loop stays live, drops are counted, memory stays bounded, and every datagram
// the socket took in is accounted for. Liveness and memory are bounds, never timings.

import test, { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type * as dgram from 'node:dgram';
import type { SocketStats } from '../lib/socket';
import { bound, closeAll } from './helpers';

interface XSocket extends dgram.Socket {
  sendBatch(...args: any[]): void;
  messages(options?: { highWaterMark?: number }): AsyncIterableIterator<{ data: Buffer; rinfo: dgram.RemoteInfo }>;
  stats(): SocketStats;
}

const FLOOD_MS = 3000;
const MB = 1 << 20;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The flooder: sends 64-datagram batches to 127.0.0.1:port as fast as it can for `ms`,
 * alternating the GSO shape (equal sizes) and the sendmmsg shape (unequal sizes), each
 * datagram numbered; prints how many went out.
 */
const FLOODER = `
const udpx = require(${JSON.stringify(path.resolve(__dirname, '..', 'index.js'))});
const port = Number(process.argv[1]);
const ms = Number(process.argv[2]);
const s = udpx.createSocket('udp4');
let seq = 0;
let sent = 0;
let errors = 0;
let round = 0;
const end = Date.now() + ms;
function batch() {
  const equal = round++ % 2 === 0;
  const out = [];
  for (let i = 0; i < 64; i++) {
    const b = Buffer.alloc(equal ? 200 : 100 + i * 3);
    b.writeUInt32BE(seq++ >>> 0, 0);
    out.push(b);
  }
  return out;
}
function loop() {
  if (Date.now() >= end) {
    s.close(() => process.stdout.write(JSON.stringify({ sent, errors, stats: s.stats() })));
    return;
  }
  s.sendBatch(batch(), port, '127.0.0.1', (err, n) => {
    sent += n;
    if (err) errors++;
    setImmediate(loop);
  });
}
loop();
`;

interface FloodResult { sent: number; errors: number; stats: SocketStats }

function flood(t: ExecutionContext, port: number, ms: number): Promise<FloodResult> {
  const child = spawn(process.execPath, ['-e', FLOODER, String(port), String(ms)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), ms + 20000);
  t.teardown(() => {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      if (code !== 0) return reject(new Error(`flooder exited ${code ?? signal}: ${err}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`flooder output: ${out} ${err}`));
      }
    });
  });
}

function busyWait(us: number): void {
  const until = process.hrtime.bigint() + BigInt(us) * 1000n;
  while (process.hrtime.bigint() < until) { /* spin */ }
}

test.serial('flood into a slow message handler: the loop stays live, drops are counted, memory bounded, every datagram delivered', async (t) => {
  const rx = (await bound('udp4')) as XSocket;
  t.teardown(() => closeAll(rx));
  let messages = 0;
  let badSize = 0;
  rx.on('message', (msg, rinfo) => {
    messages++;
    if (rinfo.size !== msg.length) badSize++;
    busyWait(50);
  });
  let ticks = 0;
  const ticker = setInterval(() => { ticks++; }, 10);
  t.teardown(() => clearInterval(ticker));
  let rssAt1s = 0;
  const sampler = setTimeout(() => { rssAt1s = process.memoryUsage().rss; }, 1000);
  t.teardown(() => clearTimeout(sampler));

  const result = await flood(t, rx.address().port, FLOOD_MS);
  const ticksDuringFlood = ticks;
  const rssAtEnd = process.memoryUsage().rss;
  clearInterval(ticker);
  // What the kernel still holds arrives too; let a little of it in, then compare counts.
  await sleep(50);
  const s = rx.stats();
  const counted = messages;
  t.log({ sent: result.sent, received: s.datagramsReceived, kernelDrops: s.kernelDrops, ticksDuringFlood,
    rssGrowthMB: ((rssAtEnd - rssAt1s) / MB).toFixed(1) });

  t.is(result.errors, 0, 'the flooder saw no send errors');
  t.true(result.sent > s.datagramsReceived, 'the flood outpaced the handler');
  t.true(ticksDuringFlood >= 20, `a 10 ms timer ticked ${ticksDuringFlood} times during a ${FLOOD_MS} ms flood`);
  t.true(s.kernelDrops > 0, 'the kernel dropped, and it was counted');
  t.true(rssAt1s > 0);
  t.true(rssAtEnd - rssAt1s < 30 * MB, `RSS grew ${((rssAtEnd - rssAt1s) / MB).toFixed(1)} MB after warm-up`);
  t.is(s.datagramsReceived, counted, "stats().datagramsReceived === 'message' events");
  t.is(badSize, 0);
  t.true(s.datagramsReceived + s.kernelDrops <= result.sent, 'no more received or dropped than sent');
});

test.serial('flood into a slowly consumed async iterator: memory bounded, every datagram yielded or counted as dropped', async (t) => {
  const rx = (await bound('udp4')) as XSocket;
  t.teardown(() => closeAll(rx));
  const hwm = 256;
  const it = rx.messages({ highWaterMark: hwm });
  t.teardown(() => { it.return!(); });
  let yielded = 0;
  let disorder = 0;
  let last = -1;
  let ticks = 0;
  const ticker = setInterval(() => { ticks++; }, 10);
  t.teardown(() => clearInterval(ticker));
  let rssAt1s = 0;
  const sampler = setTimeout(() => { rssAt1s = process.memoryUsage().rss; }, 1000);
  t.teardown(() => clearTimeout(sampler));
  const consumer = (async () => {
    for (;;) {
      const r = await it.next(); // ends (done) when the test calls it.return()
      if (r.done) return;
      const seq = r.value.data.readUInt32BE(0);
      if (seq <= last) disorder++;
      last = seq;
      yielded++;
      busyWait(50);
      // Yield to the loop now and then, as a real consumer awaiting I/O would.
      if (yielded % 16 === 0) await new Promise<void>((r) => setImmediate(r));
    }
  })();

  const result = await flood(t, rx.address().port, FLOOD_MS);
  const ticksDuringFlood = ticks;
  const rssAtEnd = process.memoryUsage().rss;
  // Drain what is buffered and queued in the kernel, then one more datagram carries the
  // kernel's final drop count (it rides along with received datagrams).
  const drained = Date.now() + 10000;
  let prev = -1;
  while (Date.now() < drained && yielded !== prev) {
    prev = yielded;
    await sleep(300);
  }
  const tail = (await bound('udp4')) as XSocket;
  t.teardown(() => closeAll(tail));
  const tailMsg = Buffer.alloc(8);
  tailMsg.writeUInt32BE(0xffffffff, 0);
  const before = yielded;
  tail.send(tailMsg, rx.address().port, '127.0.0.1');
  const until = Date.now() + 2000;
  while (yielded === before && Date.now() < until) await sleep(5);
  const s = rx.stats();
  t.log({ sent: result.sent, yielded, kernelDrops: s.kernelDrops, queueDrops: s.queueDrops, ticksDuringFlood,
    rssGrowthMB: ((rssAtEnd - rssAt1s) / MB).toFixed(1) });

  t.is(result.errors, 0);
  t.is(yielded, before + 1, 'the tail datagram arrived');
  t.is(disorder, 0, 'yielded in order');
  t.true(ticksDuringFlood >= 20, `a 10 ms timer ticked ${ticksDuringFlood} times`);
  t.true(s.kernelDrops + s.queueDrops > 0);
  t.true(rssAtEnd - rssAt1s < 30 * MB, `RSS grew ${((rssAtEnd - rssAt1s) / MB).toFixed(1)} MB after warm-up`);
  t.is(s.datagramsReceived, yielded + s.queueDrops, 'received = yielded + dropped from the queue');
  t.is(yielded + s.kernelDrops + s.queueDrops, result.sent + 1, 'every datagram sent is yielded or counted as dropped');
  await it.return!();
  t.is(await Promise.race([consumer.then(() => 'ended'), sleep(2000).then(() => 'still waiting')]), 'ended', 'return() ends a pending next()');
});
