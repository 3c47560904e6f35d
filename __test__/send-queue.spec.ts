// The send queue under kernel pushback: a sender in a network namespace whose link is
// throttled (tbf) fills its small send buffer, the kernel answers EAGAIN, and sends wait in
// udpx's queue. getSendQueueSize/Count, callback order and the 'drain' event are checked,
// and compared with node:dgram, which queues the same way in libuv.
//
// Needs root and iproute2 (ip, tc); where namespaces cannot be made for lack of permission,
// one test says so and asserts that it is a permission error.

import test from 'ava';
import * as path from 'node:path';
import { deleteNamespaces, linkNamespaces, namespacesUnavailable, nodeIn, run } from './netns';

const UDPX = path.join(__dirname, '..', 'index.js');
const A = `udpxqA${process.pid}`;
const B = `udpxqB${process.pid}`;

const script = (impl: string) => `
const d = ${impl === 'node' ? "require('node:dgram')" : `require(${JSON.stringify(UDPX)})`};
const s = d.createSocket({ type: 'udp4', sendBufferSize: 4096 });
const N = 150;
const out = { maxCount: 0, maxSize: 0, sizeMatches: true, order: [], seq: [], errors: 0, drains: 0 };
s.on('drain', () => { out.drains++; out.countAtDrain = s.getSendQueueCount(); });
s.bind(0, '10.79.0.1', () => {
  let done = 0;
  const sample = () => {
    const c = s.getSendQueueCount(), z = s.getSendQueueSize();
    if (z !== c * 1000) out.sizeMatches = false;
    if (c > out.maxCount) { out.maxCount = c; out.maxSize = z; }
  };
  for (let i = 0; i < N; i++) {
    s.send(Buffer.alloc(1000, i), 9999, '10.79.0.2', (err, n) => {
      out.order.push(i);
      // Where each callback's ticks run relative to the next callback.
      out.seq.push('c');
      process.nextTick(() => out.seq.push('t'));
      if (err || n !== 1000) out.errors++;
      sample();
      if (++done === N) {
        out.final = [s.getSendQueueCount(), s.getSendQueueSize()];
        setImmediate(() => { s.close(); console.log(JSON.stringify(out)); });
      }
    });
  }
  setImmediate(sample);
});
`;

async function runIn(impl: string): Promise<any> {
  return JSON.parse(await nodeIn(A, script(impl)));
}

// A run that cannot go out as one GSO send (two sizes, two destinations): udpx sends it
// with sendmmsg, and the kernel's EAGAIN comes in the middle of it. The queue is always
// the last sends issued (they were all issued in one go), so its size is theirs.
const mixedScript = (impl: string) => `
const d = ${impl === 'node' ? "require('node:dgram')" : `require(${JSON.stringify(UDPX)})`};
const s = d.createSocket({ type: 'udp4', sendBufferSize: 4096 });
const N = 150;
const size = (i) => (i % 3 === 0 ? 800 : 1000);
const out = { maxCount: 0, sizesMatch: true, order: [], errors: 0, drains: 0 };
s.on('drain', () => { out.drains++; });
s.bind(0, '10.79.0.1', () => {
  let done = 0;
  const sample = () => {
    const c = s.getSendQueueCount(), z = s.getSendQueueSize();
    let want = 0;
    for (let k = N - c; k < N; k++) want += size(k);
    if (z !== want) out.sizesMatch = false;
    if (c > out.maxCount) out.maxCount = c;
  };
  for (let i = 0; i < N; i++) {
    s.send(Buffer.alloc(size(i), i), i % 2 ? 9998 : 9999, '10.79.0.2', (err, n) => {
      out.order.push(i);
      if (err || n !== size(i)) out.errors++;
      sample();
      if (++done === N) {
        out.final = [s.getSendQueueCount(), s.getSendQueueSize()];
        setImmediate(() => { s.close(); console.log(JSON.stringify(out)); });
      }
    });
  }
});
`;

// Close while sends wait after EAGAIN: 'close' comes first, then every queued send with a
// callback completes with ECANCELED, in order (sends without a callback complete silently),
// each callback's microtasks before the next callback.
const closeScript = (impl: string) => `
const d = ${impl === 'node' ? "require('node:dgram')" : `require(${JSON.stringify(UDPX)})`};
const s = d.createSocket({ type: 'udp4', sendBufferSize: 4096 });
const N = 150;
const hasCallback = (i) => i % 3 !== 2;
const out = { seq: [], countAtClose: -1, sizeAtClose: -1, codes: [] };
let closed = false;
s.bind(0, '10.79.0.1', () => {
  for (let i = 0; i < N; i++) {
    const cb = hasCallback(i) ? (err) => {
      out.seq.push(err ? (closed ? 'X' : 'E') : (closed ? 'K' : 'c'));
      if (err) out.codes.push(err.code);
      Promise.resolve().then(() => out.seq.push('m'));
    } : undefined;
    s.send(Buffer.alloc(1000, i), 9999, '10.79.0.2', cb);
  }
  setImmediate(() => {
    out.countAtClose = s.getSendQueueCount();
    out.sizeAtClose = s.getSendQueueSize();
    s.close(() => { closed = true; out.seq.push('close'); });
  });
  setTimeout(() => {
    let want = 0;
    for (let k = N - out.countAtClose; k < N; k++) if (hasCallback(k)) want++;
    out.wantCancelled = want;
    out.seq = out.seq.join(' ');
    console.log(JSON.stringify(out));
  }, 500);
});
`;

const failure = linkNamespaces({ ns: A, dev: 'qa0', cidr: '10.79.0.1/24' }, { ns: B, dev: 'qb0', cidr: '10.79.0.2/24' });
if (failure === null) {
  // 1 Mbit/s with room for 100 KB in the qdisc: the socket's 4 KiB send buffer fills first.
  run('ip', 'netns', 'exec', A, 'tc', 'qdisc', 'add', 'dev', 'qa0', 'root', 'tbf', 'rate', '1mbit', 'burst', '1600', 'limit', '100000');
}
test.after.always(() => deleteNamespaces(A, B));

if (!namespacesUnavailable(failure, 'send-queue specs')) {
  test('EAGAIN queues sends: counts and sizes exact, callbacks in order, queue drains, drain event', async (t) => {
    const [node, udpx] = await Promise.all([runIn('node'), runIn('udpx')]);
    const expectedOrder = Array.from({ length: 150 }, (_, i) => i);
    for (const [name, r] of [['node:dgram', node], ['udpx', udpx]] as const) {
      t.true(r.maxCount > 0, `${name}: the kernel pushed back, so sends were queued`);
      t.is(r.maxSize, r.maxCount * 1000, `${name}: queue size counts bytes`);
      t.true(r.sizeMatches, `${name}: size and count agree at every sample`);
      t.deepEqual(r.order, expectedOrder, `${name}: callbacks in send order`);
      t.is(r.errors, 0, `${name}: every send completed with its byte count`);
      t.deepEqual(r.final, [0, 0], `${name}: the queue is empty at the end`);
    }
    t.true(udpx.drains >= 1, "udpx emits 'drain' when the queue empties");
    // Queued sends complete one callback scope at a time, so ticks interleave as in Node.
    // (How many completed synchronously differs run to run, so compare the tail: the
    // queued completions, where each callback's tick runs before the next callback.)
    const tail = (seq: string[]) => seq.join('').slice(-40);
    t.is(tail(udpx.seq), tail(node.seq));
    t.is(tail(node.seq), 'ct'.repeat(20));
    t.is(udpx.countAtDrain, 0);
  });

  test('close with sends queued after EAGAIN: close first, then ECANCELED for each queued send with a callback, in order', async (t) => {
    const node = JSON.parse(await nodeIn(A, closeScript('node')));
    const udpx = JSON.parse(await nodeIn(A, closeScript('udpx')));
    for (const [name, r] of [['node:dgram', node], ['udpx', udpx]] as const) {
      t.true(r.countAtClose > 0, `${name}: sends were queued at close (${r.countAtClose})`);
      t.is(r.sizeAtClose, r.countAtClose * 1000, `${name}: queue size at close`);
      // Before close: synchronous successes (their callbacks are nextTicks of one run, so the
      // microtasks follow them all); after it, one callback scope per cancelled send.
      t.regex(r.seq, /^([cm] )*close( X m)*$/, `${name}: completions, then close, then the cancelled ones, microtasks after each`);
      t.is(r.codes.length, r.wantCancelled, `${name}: one ECANCELED per queued send with a callback`);
      t.log(`${name}: ${r.countAtClose} sends queued at close, ${r.codes.length} callbacks cancelled`);
      t.true(r.codes.every((c: string) => c === 'ECANCELED'), `${name}: ${r.codes.join(',')}`);
    }
  });

  test('EAGAIN in the middle of a run of mixed sizes and destinations: the rest queues, in order', async (t) => {
    const node = JSON.parse(await nodeIn(A, mixedScript('node')));
    const udpx = JSON.parse(await nodeIn(A, mixedScript('udpx')));
    const expectedOrder = Array.from({ length: 150 }, (_, i) => i);
    for (const [name, r] of [['node:dgram', node], ['udpx', udpx]] as const) {
      t.true(r.maxCount > 0, `${name}: the kernel pushed back, so sends were queued`);
      t.true(r.sizesMatch, `${name}: the queue holds the last sends, their bytes counted`);
      t.deepEqual(r.order, expectedOrder, `${name}: callbacks in send order`);
      t.is(r.errors, 0, `${name}: every send completed with its byte count`);
      t.deepEqual(r.final, [0, 0], `${name}: the queue is empty at the end`);
      t.true(r.drains >= (name === 'udpx' ? 1 : 0), `${name}: drain`);
    }
  });
}
