'use strict';
// Soak: `npm run stress [-- --minutes N]` (default 10; fractions allowed, e.g. 1 in .ci/soak).
//
// One process mixes, for the whole run, on loopback only:
//   - flood receive: a child process floods a socket whose 'message' handler spins 20 µs
//   - per-call send() and sendBatch() to a sink socket, every 10 ms
//   - open / bind / send / close churn, every 20 ms
//   - sockets closed mid-send (close() right after a burst of sends with callbacks)
//   - a worker thread that loads udpx, sends and receives, terminated after 300 ms, every 2 s
// Every 10 s it prints RSS, heap, open descriptors, drops and event-loop delay. It fails
// (exit 1) when, after the warm-up (the first quarter of the run, at most 60 s):
//   - RSS grows more than RSS_SLACK above its level at the end of the warm-up,
//   - the JS heap grows more than HEAP_SLACK above it,
//   - open descriptors exceed that level by more than FD_SLACK (churn and workers hold a few
//     at any moment; a leak grows without end),
//   - or the event loop stalls: a delay above STALL_MS in any 10 s window.
// udpx never fails a run by itself; a crash or an uncaught error fails it too.

const { spawn } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const fs = require('node:fs');
const path = require('node:path');

const MiB = 1 << 20;
const RSS_SLACK = 32 * MiB;
const HEAP_SLACK = 16 * MiB;
const FD_SLACK = 16;
const STALL_MS = 1000;
const SAMPLE_MS = 10e3;
const HOST = '127.0.0.1';
const UDPX = path.join(__dirname, '..');

function parseArgs(argv) {
  let minutes = 10;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--minutes') minutes = Number(argv[++i]);
    else if (argv[i] === '--help' || argv[i] === '-h') {
      process.stdout.write('usage: node benchmark/stress.js [--minutes N]   (default 10)\n');
      process.exit(0);
    } else {
      process.stderr.write(`stress: unknown option ${argv[i]}\n`);
      process.exit(2);
    }
  }
  if (!(minutes > 0 && minutes <= 24 * 60)) {
    process.stderr.write('stress: --minutes must be a number in (0, 1440]\n');
    process.exit(2);
  }
  return { ms: minutes * 60e3 };
}

// The flooder: a child process sending 64-datagram sendBatch() calls to `port` until stdin closes
// or `ms` is over; kept away from the measured process so its memory does not count.
const FLOODER = `
const udpx = require(${JSON.stringify(UDPX)});
const [port, ms] = process.argv.slice(1).map(Number);
const s = udpx.createSocket('udp4');
const bufs = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 + (i % 4) * 100));
const end = Date.now() + ms;
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
(function loop() {
  if (Date.now() >= end) return s.close(() => process.exit(0));
  s.sendBatch(bufs, port, '127.0.0.1', () => setImmediate(loop));
})();
`;

// The worker: loads udpx, binds, sends to itself and to the sink until terminated.
const WORKER = `
const { workerData } = require('node:worker_threads');
const udpx = require(workerData.udpx);
const s = udpx.createSocket('udp4');
s.on('message', () => {});
s.bind(0, '127.0.0.1', () => {
  const own = s.address().port;
  const buf = Buffer.alloc(100);
  (function loop() {
    for (let i = 0; i < 32; i++) s.send(buf, i % 2 ? own : workerData.sink, '127.0.0.1');
    s.sendBatch([buf, buf, buf, buf], workerData.sink, '127.0.0.1', () => {});
    setImmediate(loop);
  })();
});
`;

const fdCount = () => {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return NaN;
  }
};
const mib = (x) => `${(x / MiB).toFixed(1)} MiB`;

async function main() {
  const { ms } = parseArgs(process.argv.slice(2));
  const udpx = require(UDPX);
  const warmup = Math.min(60e3, ms / 4);
  const started = Date.now();
  const end = started + ms;
  const counts = { sent: 0, sendCb: 0, batchCb: 0, churn: 0, midClose: 0, midCloseCb: 0, workers: 0, workerErrors: 0, errors: 0 };
  const failures = [];

  const bound = (s) => new Promise((resolve) => s.bind(0, HOST, () => resolve(s.address().port)));

  // Slow receiver under a flood.
  const slow = udpx.createSocket('udp4');
  let handled = 0;
  slow.on('message', () => {
    handled++;
    const until = performance.now() + 0.02;
    while (performance.now() < until);
  });
  slow.on('error', () => counts.errors++);
  const slowPort = await bound(slow);

  // Sink for per-call and batch sends (counts, never slow).
  const sink = udpx.createSocket('udp4');
  let sunk = 0;
  sink.on('message', () => sunk++);
  const sinkPort = await bound(sink);

  const sender = udpx.createSocket('udp4');
  sender.on('error', () => counts.errors++);
  await bound(sender);

  const flooder = spawn(process.execPath, ['-e', FLOODER, String(slowPort), String(ms + 5e3)], {
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  let flooderExit = null;
  flooder.on('exit', (code, signal) => (flooderExit = code ?? signal));

  const payload = Buffer.alloc(200);
  const batch = Array.from({ length: 16 }, () => payload);
  const timers = [];
  const every = (period, fn) => timers.push(setInterval(fn, period));

  every(10, () => {
    for (let i = 0; i < 100; i++) {
      sender.send(payload, sinkPort, HOST, () => counts.sendCb++);
      counts.sent++;
    }
    sender.sendBatch(batch, sinkPort, HOST, () => counts.batchCb++);
  });
  every(20, () => {
    const s = udpx.createSocket('udp4');
    s.on('error', () => counts.errors++);
    s.bind(0, HOST, () => {
      s.send(payload, sinkPort, HOST, () => s.close());
      counts.churn++;
    });
  });
  every(50, () => {
    const s = udpx.createSocket('udp4');
    s.on('error', () => {});
    for (let i = 0; i < 50; i++) s.send(payload, sinkPort, HOST, () => counts.midCloseCb++);
    s.sendBatch(batch, sinkPort, HOST, () => counts.midCloseCb++);
    setImmediate(() => s.close());
    counts.midClose++;
  });
  every(2000, () => {
    const w = new Worker(WORKER, { eval: true, workerData: { udpx: UDPX, sink: sinkPort } });
    w.on('error', () => counts.workerErrors++);
    counts.workers++;
    setTimeout(() => w.terminate(), 300);
  });

  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  let base = null;
  const samples = [];
  const sample = () => {
    const m = process.memoryUsage();
    const st = slow.stats();
    const s = {
      t: (Date.now() - started) / 1000,
      rss: m.rss,
      heap: m.heapUsed,
      fds: fdCount(),
      kernelDrops: st.kernelDrops,
      queueDrops: st.queueDrops,
      handled,
      delayMax: h.max / 1e6,
      delayP99: h.percentile(99) / 1e6,
    };
    h.reset();
    samples.push(s);
    process.stdout.write(
      `stress ${s.t.toFixed(0).padStart(5)} s  rss ${mib(s.rss)}  heap ${mib(s.heap)}  fds ${s.fds}  ` +
        `drops kernel ${s.kernelDrops} queue ${s.queueDrops}  handled ${s.handled}  ` +
        `loop delay p99 ${s.delayP99.toFixed(1)} ms max ${s.delayMax.toFixed(1)} ms  ` +
        `sends ${counts.sent} cb ${counts.sendCb} batches ${counts.batchCb} churn ${counts.churn} ` +
        `closed-mid-send ${counts.midClose} workers ${counts.workers}\n`,
    );
    if (s.delayMax > STALL_MS) failures.push(`event loop stalled ${s.delayMax.toFixed(0)} ms (bound ${STALL_MS} ms) at ${s.t.toFixed(0)} s`);
    if (!base && Date.now() - started >= warmup) base = s;
    else if (base) {
      if (s.rss > base.rss + RSS_SLACK) failures.push(`RSS ${mib(s.rss)} at ${s.t.toFixed(0)} s > ${mib(base.rss)} after warm-up + ${mib(RSS_SLACK)}`);
      if (s.heap > base.heap + HEAP_SLACK) failures.push(`heap ${mib(s.heap)} at ${s.t.toFixed(0)} s > ${mib(base.heap)} after warm-up + ${mib(HEAP_SLACK)}`);
      if (s.fds > base.fds + FD_SLACK) failures.push(`${s.fds} descriptors at ${s.t.toFixed(0)} s > ${base.fds} after warm-up + ${FD_SLACK}`);
    }
  };
  timers.push(setInterval(sample, SAMPLE_MS));
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, end - Date.now())));
  if (!base || samples[samples.length - 1] === base) sample(); // a short run still gets a check
  for (const t of timers) clearInterval(t);
  h.disable();
  flooder.stdin.end();
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const s of [slow, sink, sender]) s.close();
  if (flooderExit !== null && flooderExit !== 0) failures.push(`flooder exited with ${flooderExit}`);
  if (handled === 0) failures.push('the slow receiver handled nothing');
  if (sunk === 0) failures.push('the sink received nothing');
  if (counts.sendCb === 0 || counts.batchCb === 0) failures.push('no send callback came');
  if (counts.workerErrors) failures.push(`${counts.workerErrors} worker errors`);
  const first = base || samples[0];
  const last = samples[samples.length - 1];
  process.stdout.write(
    `stress: ${((Date.now() - started) / 1000).toFixed(0)} s; after warm-up (${(warmup / 1000).toFixed(0)} s): ` +
      `RSS ${mib(first.rss)} -> ${mib(last.rss)}, heap ${mib(first.heap)} -> ${mib(last.heap)}, fds ${first.fds} -> ${last.fds}; ` +
      `worst loop delay ${Math.max(...samples.map((s) => s.delayMax)).toFixed(1)} ms; kernel drops ${last.kernelDrops}, queue drops ${last.queueDrops}; ` +
      `${counts.workers} workers, ${counts.churn} churned sockets, ${counts.midClose} closed mid-send, ${counts.errors} socket errors\n`,
  );
  if (failures.length) {
    process.stdout.write(`stress: FAILED\n${[...new Set(failures)].map((f) => `  - ${f}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stdout.write('stress: ok\n');
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`stress: ${err.stack || err}\n`);
  process.exit(1);
});
