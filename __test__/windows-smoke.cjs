// Windows smoke run: loads udpx in a Windows node.exe (under Wine in .ci/windows, natively in
// the release workflow), binds, sends to itself, receives, calls every option setter, closes
// and lets the process exit by itself.
//
//   node windows-smoke.cjs RESULTS_FILE
//
// Plain CommonJS with no test runner, because ava does not run under Wine and console output
// there only works to a file: every step appends "ok - ..." or "not ok - ..." to RESULTS_FILE
// as it finishes (so a crash leaves the steps before it), then "N passed, N failed"; the last
// line, "exit 0", is written from the process's 'exit' event, which proves nothing kept the
// loop alive. The caller (the CI script) reads the file and decides.
//
// Options Windows has no equivalent for must throw an error that names the option
// (`bindToDevice ENOTSUP`), never do something else silently: those steps check that.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const out = process.argv[2];
if (!out) throw new Error('usage: windows-smoke.cjs RESULTS_FILE');
fs.writeFileSync(out, '');
const write = (line) => fs.appendFileSync(out, line + '\n');
let passed = 0;
let failed = 0;

// A hung step must not hang CI: the watchdog does not keep the loop alive itself.
setTimeout(() => {
  write('not ok - watchdog: the run did not finish in 60 s');
  process.exit(2);
}, 60_000).unref();

process.on('exit', (code) => write(`exit ${code}`));
process.on('uncaughtException', (e) => {
  write(`not ok - uncaught: ${e && e.stack}`);
  process.exit(3);
});

/** Runs `fn` (maybe async) as one step, bounded to 10 s. */
async function step(name, fn) {
  let timer;
  try {
    const detail = await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out after 10 s')), 10_000);
      }),
    ]);
    passed++;
    write(`ok - ${name}${detail === undefined ? '' : `: ${detail}`}`);
  } catch (e) {
    failed++;
    write(`not ok - ${name}: ${e && (e.stack || e)}`);
  } finally {
    clearTimeout(timer);
  }
}

function check(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
}

function once(emitter, event) {
  return new Promise((resolve, reject) => {
    const onError = (e) => { emitter.off(event, onEvent); reject(e); };
    const onEvent = (...args) => { emitter.off('error', onError); resolve(args); };
    emitter.once(event, onEvent);
    emitter.once('error', onError);
  });
}

/** `fn` must throw `ENOTSUP` (what Windows' Winsock says for it) naming `option`. */
function unsupported(option, fn) {
  try {
    fn();
  } catch (e) {
    check(e.code === 'ENOTSUP' && e.message === `${option} ENOTSUP`,
      `${option} ENOTSUP, got ${e.message}`);
    return `throws ${e.message}`;
  }
  throw new Error(`${option} did not throw`);
}

async function main() {
  let udpx;
  await step('load', () => {
    udpx = require(path.join(__dirname, '..', 'dist', 'index.js'));
    check(typeof udpx.createSocket === 'function', 'createSocket');
    return `${process.platform} ${process.arch} node ${process.version}`;
  });
  if (!udpx) return;

  for (const [type, loopback] of [['udp4', '127.0.0.1'], ['udp6', '::1']]) {
    let s;
    await step(`${type} bind`, async () => {
      s = udpx.createSocket(type);
      s.bind(0, loopback);
      await once(s, 'listening');
      const a = s.address();
      check(a.address === loopback && a.port > 0, `a bound ${loopback}:port, got ${JSON.stringify(a)}`);
      return `${a.address}:${a.port}`;
    });
    if (!s) continue;
    const port = s.address().port;

    await step(`${type} send to self and receive`, async () => {
      const got = once(s, 'message');
      const sent = new Promise((resolve, reject) => {
        s.send(`ping ${type}`, port, loopback, (err, bytes) => (err ? reject(err) : resolve(bytes)));
      });
      check((await sent) === 9, 'the callback to report 9 bytes');
      const [msg, rinfo] = await got;
      check(msg.toString() === `ping ${type}`, `the datagram back, got ${msg}`);
      check(rinfo.address === loopback && rinfo.port === port && rinfo.size === 9,
        `rinfo from ourselves, got ${JSON.stringify(rinfo)}`);
      return JSON.stringify(rinfo);
    });

    // Windows reports an ICMP port unreachable for an earlier send as WSAECONNRESET on the
    // next receive; node:dgram (libuv) ignores it, so must udpx: no 'error', no lost datagram.
    await step(`${type} a send to a closed port does not break receiving`, async () => {
      const gone = udpx.createSocket(type);
      gone.bind(0, loopback);
      await once(gone, 'listening');
      const deadPort = gone.address().port;
      await new Promise((resolve) => gone.close(resolve));
      let error;
      const onError = (e) => { error = e; };
      s.on('error', onError);
      await new Promise((resolve) => s.send('nobody', deadPort, loopback, resolve));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const got = once(s, 'message');
      s.send('still here', port, loopback);
      const [msg] = await got;
      s.off('error', onError);
      check(error === undefined, `no 'error' event, got ${error && error.message}`);
      check(msg.toString() === 'still here', `the datagram back, got ${msg}`);
    });

    await step(`${type} node:dgram option setters`, () => {
      s.setBroadcast(true);
      s.setBroadcast(false);
      check(s.setTTL(64) === 64, 'setTTL to return 64');
      check(s.setMulticastTTL(4) === 4, 'setMulticastTTL to return 4');
      check(s.setMulticastLoopback(true) === true, 'setMulticastLoopback to return true');
      s.setMulticastInterface(type === 'udp4' ? '127.0.0.1' : '::%1');
      s.setRecvBufferSize(1 << 18);
      s.setSendBufferSize(1 << 18);
      const rcv = s.getRecvBufferSize();
      const snd = s.getSendBufferSize();
      check(rcv >= 1 << 18 && snd >= 1 << 18, `buffer sizes of at least 256 KiB, got ${rcv}/${snd}`);
      return `recv ${rcv} send ${snd}`;
    });

    await step(`${type} multicast membership`, () => {
      const group = type === 'udp4' ? '239.255.0.99' : 'ff02::99';
      const iface = type === 'udp4' ? '127.0.0.1' : undefined;
      s.addMembership(group, iface);
      s.dropMembership(group, iface);
    });

    // A second socket connects: disconnecting `s` itself would give up its port on Linux
    // (it was bound to port 0), and the steps after this one need it.
    await step(`${type} connect, send without an address, disconnect`, async () => {
      const c = udpx.createSocket(type);
      try {
        c.connect(port, loopback);
        await once(c, 'connect');
        const peer = c.remoteAddress();
        check(peer.address === loopback && peer.port === port, `remoteAddress() to be s, got ${JSON.stringify(peer)}`);
        const got = once(s, 'message');
        c.send('connected');
        const [msg, rinfo] = await got;
        check(msg.toString() === 'connected' && rinfo.port === c.address().port,
          `the datagram from c, got ${msg} from ${rinfo.port}`);
        c.disconnect();
        let threw;
        try { c.remoteAddress(); } catch (e) { threw = e.code; }
        check(threw === 'ERR_SOCKET_DGRAM_NOT_CONNECTED', `remoteAddress() to throw after disconnect, got ${threw}`);
      } finally {
        c.close();
      }
    });

    await step(`${type} sendBatch to self`, async () => {
      const seen = [];
      const all = new Promise((resolve) => {
        const on = (msg) => {
          seen.push(msg.toString());
          if (seen.length === 3) { s.off('message', on); resolve(); }
        };
        s.on('message', on);
      });
      const sent = new Promise((resolve, reject) => {
        s.sendBatch(['a1', 'b22', 'c333'], port, loopback, (err, n) => (err ? reject(err) : resolve(n)));
      });
      check((await sent) === 3, 'sendBatch to report 3 sent');
      await all;
      check(seen.join() === 'a1,b22,c333', `three datagrams in order, got ${seen}`);
    });

    // Equal sizes take the segmented path: USO where Winsock has it, one send each where not.
    await step(`${type} sendBatch of equal datagrams (USO or its fallback)`, async () => {
      const sizes = [];
      const all = new Promise((resolve) => {
        const on = (msg) => {
          sizes.push(msg.length);
          if (sizes.length === 4) { s.off('message', on); resolve(); }
        };
        s.on('message', on);
      });
      const frames = [0, 1, 2, 3].map((i) => Buffer.alloc(100, i));
      const sent = new Promise((resolve, reject) => {
        s.sendBatch(frames, port, loopback, (err, n) => (err ? reject(err) : resolve(n)));
      });
      check((await sent) === 4, 'sendBatch to report 4 sent');
      await all;
      check(sizes.join() === '100,100,100,100', `four 100-byte datagrams, got ${sizes}`);
    });

    await step(`${type} recvMetadata`, async () => {
      s.setRecvMetadata(true);
      const got = once(s, 'message');
      s.send('meta', port, loopback);
      const [, rinfo] = await got;
      s.setRecvMetadata(false);
      check(rinfo.destination === loopback, `destination ${loopback}, got ${rinfo.destination}`);
      check(typeof rinfo.interface === 'string' && rinfo.interface.length > 0,
        `an interface name, got ${rinfo.interface}`);
      check(typeof rinfo.tos === 'number', `a tos number, got ${rinfo.tos}`);
      check(rinfo.truncated === false, 'truncated false');
      return JSON.stringify(rinfo);
    });

    // Windows accepts IP_TOS and drops it (Microsoft KB 248611): udpx refuses all but 0.
    await step(`${type} setTOS: 0 is accepted, any other TOS is unsupported`, () => {
      check(s.setTOS(0) === 0, 'setTOS(0) to return 0');
      return unsupported('setTOS', () => s.setTOS(0xb8));
    });

    await step(`${type} setDontFragment`, () => {
      check(s.setDontFragment(true) === true, 'setDontFragment(true) to return true');
      s.setDontFragment(false);
    });

    await step(`${type} setGRO (receive offload: on where probed to work, else an error naming it)`, () => {
      try {
        s.setGRO(true);
      } catch (e) {
        check(e.message === 'setGRO ENOTSUP', `setGRO ENOTSUP, got ${e.message}`);
        return 'URO unavailable: setGRO ENOTSUP';
      }
      s.setGRO(false);
      return 'URO available';
    });

    await step(`${type} bindToDevice is unsupported; undoing it is a no-op`, () => {
      s.bindToDevice(null);
      return unsupported('bindToDevice', () => s.bindToDevice('lo'));
    });

    await step(`${type} reusePort is unsupported (as libuv says on Windows)`, async () => {
      const r = udpx.createSocket({ type, reusePort: true });
      try {
        const e = await new Promise((resolve) => {
          r.once('error', resolve);
          r.once('listening', () => resolve(null));
          r.bind(0, loopback);
        });
        check(e && e.code === 'ENOTSUP', `a bind error ENOTSUP, got ${e && e.message}`);
        return e.message;
      } finally {
        r.close();
      }
    });

    await step(`${type} stats`, () => {
      const st = s.stats();
      check(st.datagramsReceived === 11 && st.datagramsSent === 11,
        `11 datagrams received and 11 sent, got ${JSON.stringify(st)}`);
      return JSON.stringify(st);
    });

    await step(`${type} close`, async () => {
      const closed = once(s, 'close');
      let called = false;
      s.close(() => { called = true; });
      await closed;
      check(called, 'the close callback');
    });
  }

  write(`${passed} passed, ${failed} failed`);
}

main();
