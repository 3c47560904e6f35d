// A lossy link that duplicates and reorders, between two network namespaces the test
// builds: what udpx delivers must be exactly what the kernel delivered, and stats() must add
// up with the kernel's own counters.
//
//   nsA  la0 10.82.0.1/24  ── veth ──  lb0 10.82.0.2/24  nsB
//
// The faults: `tc netem` (loss, duplicate, reorder) on la0 where the kernel has it. Where it
// does not (CONFIG_NET_SCH_NETEM unset, as on the project's machine), the same three faults
// are made with what every distribution kernel has, and counted exactly:
//   - duplication: an nftables rule in nsA's output hook, `dup to` every 20th datagram;
//   - reordering: nftables sets skb->priority of every 4th datagram to HTB class 1:20 on la0,
//     a slow class (128 kbit/s), so those datagrams fall behind the others;
//   - loss: an nftables rule in nsB's prerouting hook drops every 10th datagram at random
//     (on the receiving side: a drop in the sender's own hooks would be EPERM to the sender).
//
// In nsB one child process holds a node:dgram socket and a udpx socket, both members of one
// multicast group: the kernel queues every datagram that arrives to both sockets, in one
// order, so the two must report the same sequence, datagram for datagram. The kernel's
// counters (nsB's Udp InDatagrams and RcvbufErrors; the nft counters of what arrived and
// what was dropped) give the expected counts.
//
// Needs root, iproute2 and nftables (.ci/faults-deps installs it); where namespaces cannot be
// made for lack of permission, or nft is missing (and netem too), one test says so.

import test from 'ava';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { deleteNamespaces, inNs, linkNamespaces, namespacesUnavailable, NFT, nodeIn, udpCounters } from './netns';

const UDPX = path.join(__dirname, '..', 'index.js');
const A = `udpxlA${process.pid}`;
const B = `udpxlB${process.pid}`;
const GROUP = '239.82.0.9';
const P = 7100; // the group's port
const P2 = 7101; // unicast, to the slow receiver
const N = 600;
const SIZE = 100;

/** Packet counters of the named nft counters (`counter name "x"`) of a namespace's table. */
function nftCounters(ns: string, family: 'inet' | 'ip', table: string): Record<string, number> {
  const out = inNs(ns, NFT!, 'list', 'counters', 'table', family, table);
  const n: Record<string, number> = {};
  for (const m of out.matchAll(/counter (\w+) \{\s*packets (\d+)/g)) n[m[1]] = Number(m[2]);
  return n;
}

/** Sends N datagrams (seq in the first 4 bytes, SIZE bytes each) to `dest`, paced, from nsA. */
const senderScript = (dest: string, port: number, marker: boolean) => `
const s = require('node:dgram').createSocket('udp4');
const hard = setTimeout(() => process.exit(3), 20000);
let errors = 0, n = 0;
s.bind(0, '10.82.0.1', () => {
  s.setMulticastInterface('10.82.0.1');
  s.setMulticastTTL(1);
  let i = 0;
  const tick = () => {
    for (let k = 0; k < 10 && i < ${N}; k++, i++) {
      const b = Buffer.alloc(${SIZE}); b.writeUInt32BE(i, 0);
      s.send(b, ${port}, '${dest}', (err) => { if (err) errors++; if (++n === ${N}) finish(); });
    }
    if (i < ${N}) setTimeout(tick, 5);
  };
  tick();
});
// A last datagram after the receiver has drained: its SO_RXQ_OVFL carries the final drop count.
const finish = () => setTimeout(() => {
  ${marker ? `s.send(Buffer.from('end!'), ${port}, '${dest}', () => { s.close(() => { clearTimeout(hard); console.log(JSON.stringify({ errors })); }); });`
    : `s.close(() => { clearTimeout(hard); console.log(JSON.stringify({ errors })); });`}
}, ${marker ? 1500 : 0});
`;

/**
 * In nsB: a node:dgram and a udpx socket in the group; prints 'ready', then, once no datagram
 * has come for `quietMs`, both sequences and udpx's stats().
 */
const groupReceiverScript = `
const sockets = { node: require('node:dgram'), udpx: require(${JSON.stringify(UDPX)}) };
const hard = setTimeout(() => process.exit(3), 30000);
const out = {};
let last = Date.now(), started = false, bound = 0;
const sock = {};
for (const [name, d] of Object.entries(sockets)) {
  const s = sock[name] = d.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 1 << 20 });
  out[name] = { seq: [], bytes: 0, errors: [] };
  s.on('error', (e) => out[name].errors.push(e.code));
  s.on('message', (msg) => {
    last = Date.now(); started = true;
    out[name].seq.push(msg.length >= 4 ? msg.readUInt32BE(0) : -1);
    out[name].bytes += msg.length;
  });
  s.bind(${P}, () => {
    s.addMembership('${GROUP}', '10.82.0.2');
    if (++bound === 2) console.log('ready');
  });
}
const check = setInterval(() => {
  if (!started || Date.now() - last < 1500) return;
  clearInterval(check);
  out.stats = sock.udpx.stats();
  sock.node.close(() => sock.udpx.close(() => { clearTimeout(hard); console.log(JSON.stringify(out)); }));
}, 100);
`;

/** In nsB: one socket of `impl` with a small receive buffer and a slow handler. */
const slowReceiverScript = (impl: string) => `
const d = ${impl === 'node' ? "require('node:dgram')" : `require(${JSON.stringify(UDPX)})`};
const s = d.createSocket({ type: 'udp4', recvBufferSize: 8192 });
const hard = setTimeout(() => process.exit(3), 30000);
let count = 0, bytes = 0, last = 0;
s.on('message', (msg) => {
  count++; bytes += msg.length; last = Date.now();
  const until = Date.now() + 2; while (Date.now() < until); // a slow handler
  if (msg.length === 4) {
    const stats = typeof s.stats === 'function' ? s.stats() : undefined;
    s.close(() => { clearTimeout(hard); console.log(JSON.stringify({ count, bytes, stats })); });
  }
});
s.bind(${P2}, '10.82.0.2', () => console.log('ready'));
`;

/** Starts `script` in `ns`, waits for its 'ready' line; `result` resolves with its last line. */
function startReceiver(ns: string, script: string): Promise<{ result: Promise<any> }> {
  return new Promise((resolveReady, rejectReady) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let ready = false;
    const kill = setTimeout(() => child.kill('SIGKILL'), 40000);
    const result = new Promise<any>((resolve, reject) => {
      child.on('close', (code) => {
        clearTimeout(kill);
        const lines = stdout.trim().split('\n');
        if (code === 0) resolve(JSON.parse(lines[lines.length - 1]));
        else reject(new Error(`receiver in ${ns} exited ${code}: ${stdout} ${stderr}`));
        if (!ready) rejectReady(new Error(`receiver in ${ns} never ready: ${stdout} ${stderr}`));
      });
    });
    result.catch(() => {});
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      if (!ready && stdout.includes('ready\n')) {
        ready = true;
        resolveReady({ result });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  });
}

/** Whether this kernel has netem (a probe qdisc on nsA's loopback). */
function netemError(): string | null {
  try {
    inNs(A, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms');
    inNs(A, 'tc', 'qdisc', 'del', 'dev', 'lo', 'root');
    return null;
  } catch (e: any) {
    return String(e.stderr || e.message).trim();
  }
}

const failure = linkNamespaces({ ns: A, dev: 'la0', cidr: '10.82.0.1/24' }, { ns: B, dev: 'lb0', cidr: '10.82.0.2/24' });
test.after.always(() => deleteNamespaces(A, B));
const noNetem = failure === null ? netemError() : null;

/** Builds the faults, with netem where the kernel has it. */
function impair(): void {
  // nsB counts what arrives for both ports (before the loss rule) and what it drops.
  inNs(B, NFT!, `add table inet udpxl
    add counter inet udpxl arrived
    add counter inet udpxl lost
    add counter inet udpxl arrived2
    add chain inet udpxl pre { type filter hook prerouting priority -300 ; }
    add rule inet udpxl pre udp dport ${P2} counter name arrived2
    add rule inet udpxl pre udp dport ${P} counter name arrived
    ${noNetem === null ? '' : `add rule inet udpxl pre udp dport ${P} numgen random mod 10 == 0 counter name lost drop`}`);
  if (noNetem === null) {
    inNs(A, 'tc', 'qdisc', 'add', 'dev', 'la0', 'root', 'netem', 'loss', '10%', 'duplicate', '5%', 'delay', '5ms', 'reorder', '75%');
    return;
  }
  const tc = (...args: string[]) => inNs(A, 'tc', ...args);
  tc('qdisc', 'add', 'dev', 'la0', 'root', 'handle', '1:', 'htb', 'default', '10');
  tc('class', 'add', 'dev', 'la0', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '1gbit');
  tc('class', 'add', 'dev', 'la0', 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '128kbit', 'burst', '1600');
  // (`dup to` an IPv4 address needs an ip-family table.)
  inNs(A, NFT!, `add table ip udpxl
    add counter ip udpxl duplicated
    add chain ip udpxl out { type filter hook output priority 0 ; }
    add rule ip udpxl out udp dport ${P} meta priority set numgen inc mod 4 map { 0 : 1:20, 1 : 1:10, 2 : 1:10, 3 : 1:10 }
    add rule ip udpxl out udp dport ${P} numgen inc mod 20 == 0 counter name duplicated dup to 10.82.0.2 device "la0"`);
}

const inversions = (seq: number[]) => seq.reduce((n, x, i) => n + (i > 0 && x < seq[i - 1] ? 1 : 0), 0);

if (namespacesUnavailable(failure, 'lossy-link specs')) {
  // The reason is reported by the test namespacesUnavailable registered.
} else if (NFT === undefined) {
  test('nft is not installed: the lossy-link specs cannot count (.ci/faults-deps installs nftables)', (t) => {
    console.warn('lossy-link specs not run: no nft in /usr/sbin, /sbin or /usr/local/sbin');
    t.pass();
  });
} else {
  const how = noNetem === null ? 'netem' : 'nftables';
  if (noNetem !== null) console.warn(`lossy-link: no netem in this kernel (${noNetem}): loss, duplication and reordering made with nftables and HTB`);
  test.before(impair);

  test.serial(`loss, duplication and reordering (${how}): udpx delivers the kernel's sequence, as node:dgram does; counts and stats() add up`, async (t) => {
    const beforeUdp = udpCounters(B);
    const before = nftCounters(B, 'inet', 'udpxl');
    const dupBefore = how === 'nftables' ? nftCounters(A, 'ip', 'udpxl').duplicated : 0;
    const rx = await startReceiver(B, groupReceiverScript);
    const sent = JSON.parse(await nodeIn(A, senderScript(GROUP, P, false)));
    const r = await rx.result;
    const afterUdp = udpCounters(B);
    const after = nftCounters(B, 'inet', 'udpxl');
    t.is(sent.errors, 0, 'every send completed');

    const arrived = after.arrived - before.arrived;
    const lost = how === 'nftables' ? after.lost - before.lost : undefined;
    const delivered = r.node.seq.length;
    t.log({ how, sent: N, arrived, lost, delivered, inversions: inversions(r.node.seq) });
    if (how === 'nftables') {
      const duplicated = nftCounters(A, 'ip', 'udpxl').duplicated - dupBefore;
      t.is(arrived, N + duplicated, 'every datagram sent or duplicated reached nsB');
      t.is(delivered, arrived - lost!, 'each socket got what arrived and was not dropped');
      t.true(duplicated > 0 && lost! > 0);
    }
    // The faults happened: datagrams are missing, some twice, and out of order.
    const counts = new Map<number, number>();
    for (const x of r.node.seq) counts.set(x, (counts.get(x) ?? 0) + 1);
    t.true(counts.size < N, 'some datagrams were lost');
    t.true([...counts.values()].some((c) => c > 1), 'some were duplicated');
    t.true(inversions(r.node.seq) > 0, 'some were reordered');

    // The kernel: what both sockets read, and that nothing overflowed their buffers.
    t.is(afterUdp.InDatagrams - beforeUdp.InDatagrams, 2 * delivered, 'Udp InDatagrams: both sockets read every delivered datagram');
    t.is(afterUdp.RcvbufErrors - beforeUdp.RcvbufErrors, 0);

    // udpx: the very sequence node:dgram saw, and stats() that add up.
    t.deepEqual(r.udpx.seq, r.node.seq, 'udpx delivered what the kernel delivered, in its order');
    t.deepEqual(r.udpx.errors, []);
    t.deepEqual(r.node.errors, []);
    t.like(r.stats, { datagramsReceived: delivered, bytesReceived: delivered * SIZE, kernelDrops: 0, queueDrops: 0 });
    t.is(r.udpx.bytes, r.node.bytes);
  });

  test.serial('a slow handler behind a small receive buffer: received + kernel drops = what arrived, per the kernel', async (t) => {
    for (const impl of ['node', 'udpx']) {
      const beforeUdp = udpCounters(B);
      const before = nftCounters(B, 'inet', 'udpxl').arrived2;
      const rx = await startReceiver(B, slowReceiverScript(impl));
      const sent = JSON.parse(await nodeIn(A, senderScript('10.82.0.2', P2, true)));
      const r = await rx.result;
      const afterUdp = udpCounters(B);
      const arrived = nftCounters(B, 'inet', 'udpxl').arrived2 - before;
      const overflowed = afterUdp.RcvbufErrors - beforeUdp.RcvbufErrors;
      t.is(sent.errors, 0);
      t.is(arrived, N + 1, `${impl}: every datagram reached nsB (nothing is lost on the way to this port)`);
      t.true(overflowed > 0, `${impl}: the receive buffer overflowed (${overflowed} RcvbufErrors)`);
      t.is(r.count + overflowed, arrived, `${impl}: received + RcvbufErrors = arrived`);
      t.is(afterUdp.InDatagrams - beforeUdp.InDatagrams, r.count, `${impl}: Udp InDatagrams = received`);
      if (impl === 'udpx') {
        // node:dgram has no drop counter; udpx's kernelDrops is the socket's kernel drop counter (SO_MEMINFO).
        t.like(r.stats, { datagramsReceived: r.count, bytesReceived: r.bytes, kernelDrops: overflowed, queueDrops: 0 });
      }
      t.log(`${impl}: ${arrived} arrived, ${r.count} received, ${overflowed} dropped by the kernel`);
    }
  });
}
