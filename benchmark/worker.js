'use strict';
// One JS side of one benchmark run, in a process of its own (spawned by benchmark/run.js).
//
//   node benchmark/worker.js '<json options>'
//
//   bun benchmark/worker.js '<json options>'
//
// options: { role, module, bunNative, ... } where module is what to require() for createSocket
// ('node:dgram' or the udpx package path); with bunNative (under Bun only) the roles use
// Bun's own `Bun.udpSocket` instead. Results and handshakes are JSON lines on stdout;
// commands ("start", "stop") arrive as lines on stdin. Every role ends by itself at a deadline.

const opts = JSON.parse(process.argv[2] || '{}');
const HOST = '127.0.0.1';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function finish(obj, sockets = []) {
  emit(obj);
  for (const s of sockets) {
    try {
      s.close();
    } catch {}
  }
  // Exit explicitly: a run must not depend on the socket implementation letting go of the loop.
  process.stdout.write('', () => process.exit(0));
}

function fail(err) {
  process.stderr.write(`worker ${opts.role} (${opts.module}): ${(err && err.stack) || err}\n`);
  process.exit(3);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
// Hard bound, whatever happens below (the driver also kills us).
setTimeout(() => fail(new Error(`deadline of ${opts.limit}s exceeded`)), (opts.limit || 60) * 1000).unref();

const dgram = opts.bunNative ? null : require(opts.module);
if (dgram && typeof dgram.createSocket !== 'function') fail(new Error(`${opts.module} has no createSocket`));
if (opts.bunNative && typeof Bun === 'undefined') fail(new Error('bunNative needs Bun'));

function bound(sock) {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, HOST, () => {
      sock.off('error', reject);
      resolve(sock.address().port);
    });
  });
}

// Calls fn(line) for each line on stdin; EOF counts as "stop".
function onCommand(fn) {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    pending += chunk;
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i).trim();
      pending = pending.slice(i + 1);
      if (line) fn(line);
    }
  });
  process.stdin.on('end', () => fn('stop'));
}

// Nearest-rank percentile of a sorted array (the same rule as native/udpbench.c).
function percentile(sorted, p) {
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[idx];
}

// The loop shapes both tables of roles share; a role says only how it makes its socket,
// sends and receives.

// Calls burst() once per event-loop turn until `seconds` have passed. burst returns false when
// the socket took less than it was given (Bun's full send buffer); the next turn then waits
// for untilRoom().
function pumpFor(seconds, burst, untilRoom) {
  return new Promise((resolve) => {
    const end = performance.now() + seconds * 1000;
    const pump = () => {
      const room = burst() !== false;
      if (performance.now() >= end) resolve();
      else if (room) setImmediate(pump);
      else untilRoom().then(pump);
    };
    pump();
  });
}

// phase(warmup), then phase(duration) timed: { warm, run, elapsed } with what each phase
// resolved to and the second phase's wall time in seconds.
async function warmThenMeasure(phase, warmup, duration) {
  const warm = await phase(warmup);
  const t0 = performance.now();
  const run = await phase(duration);
  return { warm, run, elapsed: (performance.now() - t0) / 1000 };
}

// A receiver's measurement: announces `port`; on the driver's "start", start() resets the
// counts and CPU, wall time and RSS are taken; on "stop", finishes with counts(), then
// cpu, elapsed, rss0 and rss, then extra().
function measureReceive(port, sockets, { start, counts, extra = () => ({}) }) {
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  let rss0 = process.memoryUsage.rss();
  onCommand((cmd) => {
    if (cmd === 'start') {
      start();
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      rss0 = process.memoryUsage.rss();
      emit({ started: true });
    } else if (cmd === 'stop') {
      const cpu = process.cpuUsage(cpu0);
      finish(
        {
          ...counts(),
          cpu: (cpu.user + cpu.system) / 1e6,
          elapsed: (performance.now() - t0) / 1000,
          rss0,
          rss: process.memoryUsage.rss(),
          ...extra(),
        },
        sockets,
      );
    }
  });
  emit({ port });
}

// Announces `port` and keeps the sockets (an echo server) until the driver's "stop".
function serveUntilStop(port, sockets) {
  onCommand((cmd) => {
    if (cmd === 'stop') finish({ stopped: true }, sockets);
  });
  emit({ port });
}

// Ping-pong client: send(buf) a sequence-numbered datagram, wait for its echo, repeat;
// `count` round trips timed after `warmup` untimed ones, within `duration` seconds. listen(fn)
// routes each received datagram to fn. Resolves with { n, lost } and, when n > 0, the
// median, p99, min and max round trip in ns.
function pingPong({ size, count, warmup, duration }, send, listen) {
  return new Promise((resolve) => {
    const buf = Buffer.alloc(Math.max(size, 4));
    const rtt = new Float64Array(count);
    const total = count + warmup;
    const deadline = performance.now() + duration * 1000;
    let seq = 0;
    let done = 0;
    let lost = 0;
    let t0 = 0n;
    let progress = 0;
    let lastProgress = -1;
    const end = () => {
      clearInterval(watchdog);
      const sorted = rtt.subarray(0, done).sort();
      if (done === 0) return resolve({ n: 0, lost });
      resolve({
        n: done,
        lost,
        median: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        min: sorted[0],
        max: sorted[done - 1],
      });
    };
    const ping = () => {
      buf.writeUInt32LE(seq, 0);
      t0 = process.hrtime.bigint();
      send(buf);
    };
    listen((msg) => {
      const t1 = process.hrtime.bigint();
      if (msg.length < 4 || msg.readUInt32LE(0) !== seq) return;
      if (seq >= warmup && done < count) rtt[done++] = Number(t1 - t0);
      progress++;
      seq++;
      if (seq >= total || performance.now() >= deadline) return end();
      ping();
    });
    // A datagram lost on loopback is rare; resend after 200 ms without progress.
    const watchdog = setInterval(() => {
      if (performance.now() >= deadline) return end();
      if (progress === lastProgress) {
        lost++;
        ping();
      }
      lastProgress = progress;
    }, 200);
    ping();
  });
}

const roles = {
  // Smoke test: one datagram to ourselves and back. Proves the module loads and works.
  async check() {
    const sock = dgram.createSocket('udp4');
    const port = await bound(sock);
    const got = new Promise((resolve) => sock.once('message', resolve));
    sock.send(Buffer.from('ping'), port, HOST);
    const msg = await got;
    finish({ ok: msg.toString() === 'ping' }, [sock]);
  },

  // Per-call send: socket.send(buf, port, host) without callback, yielding every `burst` sends.
  // With `ports` (several), the destination cycles over them datagram by datagram.
  async send() {
    const { port, size, duration, warmup, burst } = opts;
    const ports = opts.ports && opts.ports.length > 1 ? opts.ports : null;
    const sock = dgram.createSocket('udp4');
    let errors = 0;
    sock.on('error', () => errors++);
    await bound(sock);
    const buf = Buffer.alloc(size);
    // The last send of a phase carries a callback: sends complete in order, so when it
    // fires every datagram of the phase has been handed to the kernel.
    const flushed = () => new Promise((resolve) => sock.send(buf, port, HOST, resolve));
    const phase = async (seconds) => {
      let sent = 0;
      let k = 0;
      await pumpFor(seconds, () => {
        if (ports) for (let i = 0; i < burst; i++) sock.send(buf, ports[k++ % ports.length], HOST);
        else for (let i = 0; i < burst; i++) sock.send(buf, port, HOST);
        sent += burst;
      });
      const err = await flushed();
      return { sent: sent + 1, err };
    };
    const { warm, run, elapsed } = await warmThenMeasure(phase, warmup, duration);
    finish({ sent: run.sent, warmupSent: warm.sent, elapsed, errors: errors + (run.err ? 1 : 0) }, [sock]);
  },

  // udpx's batched send: sendBatch() of `batch` datagrams per call, either to many peers
  // (`ports`: [{ data, port, address }], one sendmmsg per 64) or to one (`port`: equal buffers,
  // one UDP GSO send). `burst` calls per event-loop turn, at most `window` calls whose callback
  // has not come yet; what is counted is the sum of `sent` the callbacks report, once all
  // callbacks of a phase have come.
  async sendbatch() {
    const { size, duration, warmup, batch, burst, window } = opts;
    const sock = dgram.createSocket('udp4');
    let errors = 0;
    sock.on('error', () => errors++);
    await bound(sock);
    if (typeof sock.sendBatch !== 'function') fail(new Error(`${opts.module} has no sendBatch`));
    const buf = Buffer.alloc(size);
    let send;
    if (opts.ports) {
      const msgs = Array.from({ length: batch }, (_, i) => ({
        data: buf,
        port: opts.ports[i % opts.ports.length],
        address: HOST,
      }));
      send = (cb) => sock.sendBatch(msgs, cb);
    } else {
      const list = Array.from({ length: batch }, () => buf);
      send = (cb) => sock.sendBatch(list, opts.port, HOST, cb);
    }
    const phase = async (seconds) => {
      let sent = 0;
      let calls = 0;
      let outstanding = 0;
      let idle = null;
      const done = (err, n) => {
        outstanding--;
        if (err) errors++;
        sent += n || 0;
        if (outstanding === 0 && idle) idle();
      };
      await pumpFor(seconds, () => {
        for (let i = 0; i < burst && outstanding < window; i++) {
          outstanding++;
          calls++;
          send(done);
        }
      });
      if (outstanding > 0) await new Promise((resolve) => (idle = resolve));
      return { sent, calls };
    };
    const { warm, run, elapsed } = await warmThenMeasure(phase, warmup, duration);
    const stats = typeof sock.stats === 'function' ? sock.stats() : null;
    finish(
      { sent: run.sent, calls: run.calls, warmupSent: warm.sent, elapsed, errors, statsSent: stats && stats.datagramsSent },
      [sock],
    );
  },

  // Per-message receive: count datagrams in a 'message' handler; CPU measured between
  // the driver's "start" and "stop".
  async recv() {
    const sock = dgram.createSocket('udp4');
    let received = 0;
    let bytes = 0;
    sock.on('message', (msg) => {
      received++;
      bytes += msg.length;
    });
    const port = await bound(sock);
    measureReceive(port, [sock], {
      start: () => (received = bytes = 0),
      counts: () => ({ received, bytes }),
    });
  },

  // udpx's batched receive: a receiveBatches() handler counting batch.length per wake-up;
  // with `gro`, createSocket({ type: 'udp4', gro: true }) (UDP GRO: coalesced runs, split
  // apart by udpx). CPU measured between the driver's "start" and "stop", as in recv.
  async recvbatch() {
    const sock = dgram.createSocket(opts.gro ? { type: 'udp4', gro: true } : 'udp4');
    if (typeof sock.receiveBatches !== 'function') fail(new Error(`${opts.module} has no receiveBatches`));
    let received = 0;
    let batches = 0;
    const port = await bound(sock);
    sock.receiveBatches((batch) => {
      received += batch.length;
      batches++;
    });
    let stats0 = sock.stats();
    measureReceive(port, [sock], {
      start: () => {
        received = batches = 0;
        stats0 = sock.stats();
      },
      counts: () => ({ received, batches }),
      extra: () => {
        const stats = sock.stats();
        return {
          statsReceived: stats.datagramsReceived - stats0.datagramsReceived,
          kernelDrops: stats.kernelDrops - stats0.kernelDrops,
        };
      },
    });
  },

  // Flood with a slow handler: every 'message' spins for `delayUs` µs, so the socket receives
  // far more than the handler can take. Samples RSS every 100 ms between the driver's "start"
  // and "stop" (peak and final), and how late those timers fire (event-loop delay).
  async slow() {
    const { delayUs } = opts;
    const sock = dgram.createSocket('udp4');
    let received = 0;
    sock.on('message', () => {
      received++;
      const until = performance.now() + delayUs / 1000;
      while (performance.now() < until);
    });
    const port = await bound(sock);
    let rss0 = 0;
    let peak = 0;
    let lateMax = 0;
    let timer = null;
    onCommand((cmd) => {
      if (cmd === 'start') {
        received = 0;
        rss0 = peak = process.memoryUsage.rss();
        let due = performance.now() + 100;
        timer = setInterval(() => {
          const now = performance.now();
          lateMax = Math.max(lateMax, now - due);
          due = now + 100;
          peak = Math.max(peak, process.memoryUsage.rss());
        }, 100);
        emit({ started: true });
      } else if (cmd === 'stop') {
        clearInterval(timer);
        const rss = process.memoryUsage.rss();
        peak = Math.max(peak, rss);
        const stats = typeof sock.stats === 'function' ? sock.stats() : null;
        finish({ received, rss0, rss, peak, lateMax, kernelDrops: stats ? stats.kernelDrops : undefined }, [sock]);
      }
    });
    emit({ port });
  },

  // Echo server for ping-pong: reply to every datagram with the same bytes.
  async echo() {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    serveUntilStop(await bound(sock), [sock]);
  },

  // Ping-pong client: send, wait for the echo (matched by sequence number), repeat.
  async ping() {
    const sock = dgram.createSocket('udp4');
    await bound(sock);
    const send = (buf) => sock.send(buf, opts.port, HOST);
    finish(await pingPong(opts, send, (onReply) => sock.on('message', onReply)), [sock]);
  },
};

// The same roles on Bun's own UDP API (`Bun.udpSocket`): send() and sendMany() are
// synchronous and return what the kernel took (false / a short count when it would block,
// then a `drain` follows); received datagrams come to a `data(socket, buf, port, address)` handler.
const bunSocket = (handlers = {}) => Bun.udpSocket({ hostname: HOST, port: 0, socket: handlers });
let drained = null;
const onDrain = () => {
  if (drained) drained();
  drained = null;
};
// A drain that never comes must not stall a run: go on after 10 ms regardless.
const untilDrain = () =>
  new Promise((resolve) => {
    drained = resolve;
    setTimeout(onDrain, 10);
  });

const bunRoles = {
  async check() {
    let got;
    const seen = new Promise((resolve) => (got = resolve));
    const sock = await bunSocket({ data: (s, buf) => got(buf) });
    sock.send(Buffer.from('ping'), sock.port, HOST);
    const msg = await seen;
    finish({ ok: Buffer.from(msg).toString() === 'ping' }, [sock]);
  },

  // Per-call send(buf, port, host), yielding every `burst` calls; with `ports`, cycling over them.
  // A full send buffer ends the burst (counted in `blocked`) and waits for the drain.
  async send() {
    const { port, size, duration, warmup, burst } = opts;
    const ports = opts.ports && opts.ports.length > 1 ? opts.ports : null;
    const sock = await bunSocket({ drain: onDrain });
    const buf = Buffer.alloc(size);
    let blocked = 0;
    const phase = async (seconds) => {
      let sent = 0;
      let k = 0;
      const sendBurst = () => {
        for (let i = 0; i < burst; i++) {
          if (!sock.send(buf, ports ? ports[k++ % ports.length] : port, HOST)) {
            blocked++;
            return false;
          }
          sent++;
        }
      };
      await pumpFor(seconds, sendBurst, untilDrain);
      return sent;
    };
    const { warm, run, elapsed } = await warmThenMeasure(phase, warmup, duration);
    finish({ sent: run, warmupSent: warm, elapsed, errors: 0, blocked }, [sock]);
  },

  // sendMany([buf, port, host, ...]) of `batch` datagrams per call over `ports`, `burst` calls
  // per event-loop turn; counted as sendMany's return values (what the kernel took).
  async sendbatch() {
    const { size, duration, warmup, batch, burst } = opts;
    const sock = await bunSocket({ drain: onDrain });
    const buf = Buffer.alloc(size);
    const ports = opts.ports || [opts.port];
    const flat = [];
    for (let i = 0; i < batch; i++) flat.push(buf, ports[i % ports.length], HOST);
    const phase = async (seconds) => {
      let sent = 0;
      let calls = 0;
      const sendBurst = () => {
        for (let i = 0; i < burst; i++) {
          const n = sock.sendMany(flat);
          calls++;
          sent += n;
          if (n < batch) return false;
        }
      };
      await pumpFor(seconds, sendBurst, untilDrain);
      return { sent, calls };
    };
    const { warm, run, elapsed } = await warmThenMeasure(phase, warmup, duration);
    finish({ sent: run.sent, calls: run.calls, warmupSent: warm.sent, elapsed, errors: 0 }, [sock]);
  },

  // Receive: count datagrams in the data handler, CPU between "start" and "stop".
  async recv() {
    let received = 0;
    let bytes = 0;
    const sock = await bunSocket({
      data(s, buf) {
        received++;
        bytes += buf.length;
      },
    });
    measureReceive(sock.port, [sock], {
      start: () => (received = bytes = 0),
      counts: () => ({ received, bytes }),
    });
  },

  async echo() {
    const sock = await bunSocket({ data: (s, buf, port, address) => s.send(buf, port, address) });
    serveUntilStop(sock.port, [sock]);
  },

  async ping() {
    let onReply = null;
    const sock = await bunSocket({ data: (s, buf) => onReply(buf) });
    const send = (buf) => sock.send(buf, opts.port, HOST);
    finish(await pingPong(opts, send, (fn) => (onReply = fn)), [sock]);
  },
};

const table = opts.bunNative ? bunRoles : roles;
if (!table[opts.role]) fail(new Error(`unknown role ${opts.role}${opts.bunNative ? ' for Bun.udpSocket' : ''}`));
table[opts.role]().catch(fail);
