// Sends the kernel refuses, and links that go away under a socket, in a pair of network
// namespaces the test builds: each scenario runs on node:dgram and on udpx in child
// processes inside the namespaces, and udpx's trace (callbacks, 'error' events, error
// codes/errno/syscall/address/port, queue counts, whether the process exits by itself) must
// equal node:dgram's, which must itself be the expected one.
//
//   nsA  fa0 10.81.0.1/24 fd81::1/64  ── veth ──  fb0 10.81.0.2/24 fd81::2/64  nsB
//
// - A firewall rule in nsA's output hook drops the sends: sendmsg fails with EPERM.
// - A tiny send buffer in front of a tiny qdisc: the qdisc drops (ENOBUFS inside the
//   kernel), which Linux's UDP hides from the sender unless IP_RECVERR is on (it counts
//   them as Udp SndbufErrors); a small send buffer alone gives EAGAIN, i.e. sends queue in
//   user space (see send-queue.spec). Neither implementation sees an error there: the
//   kernel's counters are the evidence (counting one per kernel send: udpx's UDP GSO send
//   of a tick's equal datagrams counts once).
// - nsA's link goes down and up under a bound socket and under a multicast member.
//
// Needs root, iproute2 and nftables (`nft`; .ci/faults-deps installs it). Where namespaces
// cannot be made for lack of permission, or nft is missing, one test says so.

import test from 'ava';
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { deleteNamespaces, inNs, linkNamespaces, namespacesUnavailable, NFT, nodeIn, run, udpCounters } from './netns';

const UDPX = path.join(__dirname, '..', 'index.js');
const A = `udpxkA${process.pid}`;
const B = `udpxkB${process.pid}`;
const BLOCKED = 9999; // nsA's firewall drops UDP to this port
const OPEN = 9998;
const ECHO = 7000; // nsB echoes datagrams sent here
const GROUP = '239.81.0.7';
const GROUP_PORT = 7001; // nsB sends to GROUP:GROUP_PORT every 20 ms

/** Common prelude of every child: the implementation, and errors as plain data. */
const prelude = (impl: string) => `
const d = ${impl === 'node' ? "require('node:dgram')" : `require(${JSON.stringify(UDPX)})`};
const { execFileSync } = require('node:child_process');
const info = (e) => e && ({ name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, address: e.address, port: e.port });
const trace = [];
const hard = setTimeout(() => { console.log(JSON.stringify({ hardTimeout: true, trace })); process.exit(3); }, 15000);
const done = (extra) => { clearTimeout(hard); console.log(JSON.stringify({ trace, ...extra })); };
`;

// ---------------------------------------------------------------------------------------------
// EPERM: nsA's output hook drops UDP to port BLOCKED.

const epermScript = (impl: string) => `${prelude(impl)}
const s = d.createSocket('udp4');
s.on('error', (e) => trace.push(['error', info(e)]));
s.bind(0, '10.81.0.1', () => {
  // Callback form: where each callback lands relative to send() returning and to ticks.
  for (let i = 0; i < 3; i++) {
    s.send('x' + i, ${BLOCKED}, '10.81.0.2', (err, n) => trace.push(['cb', i, info(err), n]));
    trace.push(['returned', i]);
    process.nextTick(() => trace.push(['tick', i]));
  }
  setTimeout(() => {
    // No callback: node:dgram then drops the error (its send request has no oncomplete).
    s.send('y', ${BLOCKED}, '10.81.0.2');
    trace.push(['returned', 'no-callback']);
    setTimeout(flood, 100);
  }, 100);
});
function flood() {
  // Many refused sends: every callback comes, and nothing stays queued.
  const N = 300;
  let errors = 0, n = 0;
  const codes = new Set();
  for (let i = 0; i < N; i++) {
    s.send(Buffer.alloc(100), ${BLOCKED}, '10.81.0.2', (err) => {
      if (err) { errors++; codes.add(err.code); }
      if (++n === N) {
        trace.push(['flood', errors, [...codes], s.getSendQueueCount(), s.getSendQueueSize()]);
        connected();
      }
    });
  }
}
function connected() {
  const c = d.createSocket('udp4');
  c.on('error', (e) => trace.push(['c error', info(e)]));
  c.connect(${BLOCKED}, '10.81.0.2', () => {
    c.send('z', (err, n) => {
      trace.push(['connected cb', info(err), n]);
      c.close();
      v6();
    });
  });
}
function v6() {
  const s6 = d.createSocket('udp6');
  s6.bind(0, 'fd81::1', () => {
    s6.send('w', ${BLOCKED}, 'fd81::2', (err, n) => {
      trace.push(['udp6 cb', info(err), n]);
      s6.close();
      allowed();
    });
  });
}
function allowed() {
  // The socket still works for what the firewall lets through.
  s.send('ok', ${OPEN}, '10.81.0.2', (err, n) => {
    trace.push(['allowed cb', info(err), n]);
    const extra = {};
    if (typeof s.sendBatch === 'function') {
      s.sendBatch([Buffer.from('b0'), Buffer.from('b1')], ${BLOCKED}, '10.81.0.2', (err, sent) => {
        extra.batch = [info(err), err && err.index, sent];
        s.close(() => done(extra));
      });
    } else {
      s.close(() => done(extra));
    }
  });
}
`;

// ---------------------------------------------------------------------------------------------
// Qdisc drops behind a tiny send buffer.

const SILENT_N = 400;
const silentDropScript = (impl: string) => `${prelude(impl)}
const s = d.createSocket({ type: 'udp4', sendBufferSize: 4096 });
s.on('error', (e) => trace.push(['error', info(e)]));
s.bind(0, '10.81.0.1', () => {
  let n = 0, errors = 0, maxQueued = 0;
  const codes = new Set();
  const N = ${SILENT_N};
  const send = (i) => {
    s.send(Buffer.alloc(1000, i & 0xff), ${OPEN}, '10.81.0.2', (err, bytes) => {
      if (err || bytes !== 1000) { errors++; if (err) codes.add(err.code); }
      if (++n === N) {
        trace.push(['done', errors, [...codes], s.getSendQueueCount()]);
        s.close(() => done({ maxQueued }));
      }
    });
    maxQueued = Math.max(maxQueued, s.getSendQueueCount());
  };
  // In bursts of 20 per tick, so that both the socket buffer and the qdisc fill.
  let i = 0;
  const burst = () => {
    for (let k = 0; k < 20 && i < N; k++) send(i++);
    if (i < N) setImmediate(burst);
  };
  burst();
});
`;

// ---------------------------------------------------------------------------------------------
// Link down and up under a bound socket (pinging nsB's echo) and a multicast member
// (receiving nsB's group traffic). The child toggles its own namespace's link.

const PHASE_MS = 700;
const linkScript = (impl: string) => `${prelude(impl)}
const ip = (...a) => execFileSync('ip', a, { stdio: 'pipe' });
const s = d.createSocket('udp4');
const m = d.createSocket({ type: 'udp4', reuseAddr: true });
s.on('error', (e) => trace.push(['s error', info(e)]));
m.on('error', (e) => trace.push(['m error', info(e)]));
let phase = 'up1';
const got = { echo: {}, group: {} };
const errs = {};
s.on('message', () => { got.echo[phase] = (got.echo[phase] || 0) + 1; });
m.on('message', () => { got.group[phase] = (got.group[phase] || 0) + 1; });
let seq = 0;
let ping;
s.bind(0, '10.81.0.1', () => m.bind(${GROUP_PORT}, () => {
  m.addMembership('${GROUP}', '10.81.0.1');
  ping = setInterval(() => {
    const p = phase;
    s.send('ping ' + seq++, ${ECHO}, '10.81.0.2', (err) => {
      if (err && p !== 'settle') { const k = p + ' ' + err.code + ' ' + err.syscall + ' ' + err.errno; errs[k] = (errs[k] || 0) + 1; }
    });
  }, 20);
  setTimeout(down, ${PHASE_MS});
}));
function down() {
  // What was in flight or queued when the link went: not counted.
  phase = 'settle';
  ip('link', 'set', 'fa0', 'down');
  setTimeout(() => { phase = 'down'; }, 100);
  // One send without a callback while down: node:dgram drops its error (no 'error' event).
  setTimeout(() => s.send('lost', ${ECHO}, '10.81.0.2'), 150);
  setTimeout(up, ${PHASE_MS});
}
function up() {
  // The first datagrams after the link returns may race its carrier: not counted.
  phase = 'settle';
  ip('link', 'set', 'fa0', 'up');
  // Until both flows are back, or 5 s (a loaded machine may take a while to resolve ARP).
  setTimeout(() => {
    phase = 'up2';
    const t0 = Date.now();
    const wait = setInterval(() => {
      if ((got.echo.up2 && got.group.up2) || Date.now() - t0 > 5000) { clearInterval(wait); finish(); }
    }, 50);
  }, 300);
}
function finish() {
  phase = 'end';
  clearInterval(ping);
  trace.push(['queue', s.getSendQueueCount(), s.getSendQueueSize()]);
  // The interface goes away entirely under the member: dropping the membership then.
  ip('link', 'del', 'fa0');
  let drop;
  try { m.dropMembership('${GROUP}', '10.81.0.1'); drop = 'ok'; } catch (e) { drop = info(e); }
  s.close(() => m.close(() => done({
    // Counts vary with timing; whether traffic flowed in each phase does not.
    echo: Object.fromEntries(['up1', 'down', 'up2'].map((k) => [k, (got.echo[k] || 0) > 0])),
    group: Object.fromEntries(['up1', 'down', 'up2'].map((k) => [k, (got.group[k] || 0) > 0])),
    errs: Object.keys(errs).sort(),
    drop,
  })));
}
`;

/** nsB's side of the link scenario: an echo socket and a multicast sender. */
const peerScript = `
const d = require('node:dgram');
const e = d.createSocket('udp4');
e.on('error', () => {});
e.on('message', (msg, r) => e.send(msg, r.port, r.address, () => {}));
e.bind(${ECHO}, '0.0.0.0');
const g = d.createSocket('udp4');
g.on('error', () => {});
g.bind(0, '10.81.0.2', () => {
  g.setMulticastInterface('10.81.0.2');
  setInterval(() => g.send('group', ${GROUP_PORT}, '${GROUP}', () => {}), 20);
});
setTimeout(() => process.exit(0), 60000);
`;

async function both(script: (impl: string) => string, prepare?: () => void): Promise<{ node: any; udpx: any }> {
  prepare?.();
  const node = JSON.parse(await nodeIn(A, script('node')));
  prepare?.();
  const udpx = JSON.parse(await nodeIn(A, script('udpx')));
  return { node, udpx };
}

function setup(): string | null {
  const failure = linkNamespaces({ ns: A, dev: 'fa0', cidr: '10.81.0.1/24' }, { ns: B, dev: 'fb0', cidr: '10.81.0.2/24' });
  if (failure !== null) return failure;
  run('ip', '-n', A, 'addr', 'add', 'fd81::1/64', 'dev', 'fa0', 'nodad');
  run('ip', '-n', B, 'addr', 'add', 'fd81::2/64', 'dev', 'fb0', 'nodad');
  return null;
}

const failure = setup();
const noNft = NFT === undefined ? 'no nft in /usr/sbin, /sbin, /usr/local/sbin or /usr/bin' : null;
test.after.always(() => deleteNamespaces(A, B));

if (!namespacesUnavailable(failure, 'kernel-refusals specs')) {
  if (noNft !== null) {
    test('nft is not installed: the firewall scenario cannot run (.ci/faults-deps installs nftables)', (t) => {
      console.warn(`kernel-refusals: firewall (EPERM) spec not run: nft missing: ${noNft}`);
      t.regex(noNft, /no nft/);
    });
  } else {
    test.serial('a firewall drop in the sending namespace: EPERM, reported as node:dgram reports it', async (t) => {
      inNs(A, NFT!, `add table inet udpxk
        add chain inet udpxk out { type filter hook output priority 0 ; }
        add rule inet udpxk out udp dport ${BLOCKED} counter drop`);
      try {
        const { node, udpx } = await both(epermScript);
        const eperm = (address?: string, port?: number) => ({
          name: 'Error',
          message: address ? `send EPERM ${address}:${port}` : 'send EPERM',
          code: 'EPERM',
          errno: -1,
          syscall: 'send',
          ...(address ? { address, port } : {}),
        });
        // node:dgram: the scenario is what we think it is.
        const cbs = node.trace.filter((e: any[]) => e[0] === 'cb');
        t.deepEqual(cbs.map((e: any[]) => e[2]), [0, 1, 2].map(() => eperm('10.81.0.2', BLOCKED)));
        // A refused send without a callback: node:dgram drops the error (no 'error' event).
        t.is(node.trace.find((e: any[]) => e[0] === 'error'), undefined);
        t.deepEqual(node.trace.find((e: any[]) => e[0] === 'flood'), ['flood', 300, ['EPERM'], 0, 0]);
        t.deepEqual(node.trace.find((e: any[]) => e[0] === 'connected cb'), ['connected cb', eperm(), null]);
        t.deepEqual(node.trace.find((e: any[]) => e[0] === 'udp6 cb'), ['udp6 cb', eperm('fd81::2', BLOCKED), null]);
        t.deepEqual(node.trace.find((e: any[]) => e[0] === 'allowed cb'), ['allowed cb', null, 2]);
        // udpx: the same trace, event for event (callback order and tick interleaving too).
        t.deepEqual(udpx.trace, node.trace);
        // sendBatch (udpx only): the refusal stops the batch at its first datagram.
        t.deepEqual(udpx.batch, [eperm('10.81.0.2', BLOCKED), 0, 0]);
        const counted = inNs(A, NFT!, 'list', 'chain', 'inet', 'udpxk', 'out');
        const packets = Number(/counter packets (\d+)/.exec(counted)?.[1]);
        t.true(packets >= 2 * (3 + 1 + 300 + 1 + 1), `the rule dropped every refused send (${packets})`);
      } finally {
        inNs(A, NFT!, 'delete', 'table', 'inet', 'udpxk');
      }
    });
  }

  test.serial('a tiny send buffer in front of a tiny qdisc: drops are silent for both, counted as SndbufErrors', async (t) => {
    // 100 kbit/s with room for one datagram: most of each burst is dropped by the qdisc.
    inNs(A, 'tc', 'qdisc', 'add', 'dev', 'fa0', 'root', 'tbf', 'rate', '100kbit', 'burst', '1600', 'limit', '1100');
    try {
      const results: any = {};
      for (const impl of ['node', 'udpx']) {
        const before = udpCounters(A);
        const r = JSON.parse(await nodeIn(A, silentDropScript(impl)));
        const after = udpCounters(A);
        r.sndbufErrors = after.SndbufErrors - before.SndbufErrors;
        r.outDatagrams = after.OutDatagrams - before.OutDatagrams;
        results[impl] = r;
      }
      for (const [name, r] of Object.entries<any>(results)) {
        t.deepEqual(r.trace, [['done', 0, [], 0]], `${name}: every send called back without error; nothing left queued`);
        t.true(r.sndbufErrors > 0, `${name}: the kernel dropped datagrams in the qdisc (${r.sndbufErrors} SndbufErrors)`);
        if (name === 'node') {
          t.is(r.outDatagrams + r.sndbufErrors, SILENT_N, `${name}: sent + dropped = ${SILENT_N}`);
        } else {
          // udpx sends each burst of equal datagrams of one tick as UDP GSO sends, and the
          // kernel counts one per GSO send (up to 20 datagrams each here), sent or dropped.
          const counted = r.outDatagrams + r.sndbufErrors;
          t.true(counted >= SILENT_N / 20 && counted <= SILENT_N, `${name}: sent + dropped (per kernel send) = ${counted}`);
        }
        t.log(`${name}: ${r.outDatagrams} left, ${r.sndbufErrors} dropped by the qdisc, at most ${r.maxQueued} queued in user space`);
      }
    } finally {
      inNs(A, 'tc', 'qdisc', 'del', 'dev', 'fa0', 'root');
    }
  });

  test.serial('the link goes down and up under a bound socket and a multicast member; then the interface is deleted', async (t) => {
    let peer: ChildProcess | undefined;
    try {
      const { node, udpx } = await both(linkScript, () => {
        // The link scenario deletes fa0: rebuild the pair before each run, then start nsB's peer.
        peer?.kill('SIGKILL');
        deleteNamespaces(A, B);
        t.is(setup(), null);
        peer = spawn('ip', ['netns', 'exec', B, process.execPath, '-e', peerScript], { stdio: 'ignore' });
      });
      const flow = { up1: true, down: false, up2: true };
      t.deepEqual(node.echo, flow, 'node:dgram: echoes stop while the link is down and resume');
      t.deepEqual(node.group, flow, 'node:dgram: the membership survives the link going down and up');
      t.deepEqual(node.errs, ['down ENETUNREACH send -101'], 'node:dgram: sends fail only while down');
      // No 'error' event on either socket (the callback-less send's error is dropped), and
      // nothing left queued.
      t.deepEqual(node.trace, [['queue', 0, 0]]);
      t.deepEqual(udpx, node);
      t.log(`dropMembership after the interface was deleted: ${JSON.stringify(node.drop)}`);
    } finally {
      peer?.kill('SIGKILL');
    }
  });
}
