// udpx's batch extensions on real loopback sockets: sendBatch (GSO and sendmmsg, one and
// many destinations, partial sends and errors), receiveBatches, GRO, the async iterator
// with backpressure, and stats(). Counts, contents, order and bounds; never timings.

import test, { ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import * as dgram from 'node:dgram';
import type { DatagramBatch } from '../lib/batch';
import type { SocketStats } from '../lib/socket';
import { groMissing, refusedByEmulator, testUnless } from './capabilities';
import { bound, closeAll, once, udpx } from './helpers';

type Item = { data: Buffer; rinfo: dgram.RemoteInfo };

/** A udpx socket with the extensions typed. */
interface XSocket extends dgram.Socket {
  sendBatch(...args: any[]): void;
  receiveBatches(handler: ((batch: DatagramBatch) => void) | null): this;
  messages(options?: { highWaterMark?: number }): AsyncIterableIterator<Item>;
  [Symbol.asyncIterator](): AsyncIterableIterator<Item>;
  setGRO(on: boolean): void;
  stats(): SocketStats;
}

const BIG_RCVBUF = 4 << 20; // room for a whole test's burst: no kernel drops
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const tick = () => new Promise<void>((r) => setImmediate(r));

/** Closes `socket` when the test ends, whether or not it passed. */
function own<S extends dgram.Socket>(t: ExecutionContext, socket: S): XSocket {
  t.teardown(() => closeAll(socket));
  return socket as unknown as XSocket;
}

async function xbound(t: ExecutionContext, type: 'udp4' | 'udp6' = 'udp4', options: Record<string, unknown> = {}): Promise<XSocket> {
  return own(t, await bound(type, options as any));
}

/** Waits (bounded) until `cond()` holds. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(5);
}

/** Datagram `i` of `size` bytes: the index up front (when it fits), then a pattern. */
function payload(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j++) b[j] = (i * 7 + j * 13) & 255;
  if (size >= 4) b.writeUInt32BE(i, 0);
  return b;
}

function collector(s: dgram.Socket): Item[] {
  const got: Item[] = [];
  s.on('message', (data, rinfo) => got.push({ data, rinfo }));
  return got;
}

function sendBatchP(s: XSocket, ...args: any[]): Promise<[any, number]> {
  return new Promise((resolve) => s.sendBatch(...args, (err: any, sent: number) => resolve([err, sent])));
}

/** Bytes in a fence datagram. */
const FENCE_LEN = 16;

/** Sends a marker from `tx` and waits for it in `got`: what arrived before it is all there is. */
async function fence(tx: dgram.Socket, got: Item[], port: number, address: string): Promise<void> {
  const marker = `fence-${Math.random().toString(16).slice(2, 12).padEnd(10, '0')}`;
  tx.send(marker, port, address);
  await until(() => got.some((m) => m.data.toString() === marker));
  const k = got.findIndex((m) => m.data.toString() === marker);
  if (k < 0) throw new Error('fence datagram never arrived');
  got.splice(k, 1);
}

/** node:dgram's error for send(data, port, address) on a socket of `type`. */
function nodeSendError(type: 'udp4' | 'udp6', data: Buffer | string, port: number, address: string): Promise<any> {
  const s = dgram.createSocket(type);
  return new Promise((resolve) => s.send(data, port, address, (err) => {
    s.close();
    resolve(err);
  }));
}

const ERR_KEYS = ['code', 'errno', 'syscall', 'address', 'port', 'message'] as const;

/** A batch callback's outcome in one comparable object. */
function outcome(err: any, sent: number): Record<string, unknown> {
  const o: Record<string, unknown> = { isError: err ? err instanceof Error : null };
  for (const key of ERR_KEYS) o[key] = err?.[key];
  return { ...o, index: err?.index, sent };
}

/** The outcome expected: node:dgram's error for the failing datagram, at `index`, `index` sent. */
function expected(nodeErr: any, index: number): Record<string, unknown> {
  return outcome(Object.assign(nodeErr, { index }), index);
}

const sum = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);

// --- 1. One destination: GSO (equal sizes, maybe a shorter last) and sendmmsg --------------

const shapes: Array<[string, number[]]> = [
  ['200 equal', Array(200).fill(1000)],
  ['199 equal + a shorter last', [...Array(199).fill(1200), 17]],
  ['unequal sizes (with empty ones)', Array.from({ length: 200 }, (_, i) => (i % 50 === 7 ? 0 : 10 + ((i * 37) % 1400)))],
];

for (const gro of ['off', 'createSocket option', 'setGRO after bind'] as const) {
  for (const [shape, sizes] of shapes) {
    test(`sendBatch to one peer, ${shape}, receiver GRO ${gro}: complete, ordered, sized; stats match`, async (t) => {
      const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF, gro: gro === 'createSocket option' });
      if (gro === 'setGRO after bind') {
        if (groMissing === undefined) rx.setGRO(true);
        // Without GRO the setter says so (README: a platform lacking a feature throws); the
        // datagrams must arrive all the same.
        else t.like(t.throws(() => rx.setGRO(true)), { code: 'ENOPROTOOPT', syscall: 'setGRO', message: 'setGRO ENOPROTOOPT' }, groMissing);
      }
      const tx = await xbound(t, 'udp4');
      const got = collector(rx);
      const port = rx.address().port;
      const msgs = sizes.map((s, i) => payload(i, s));
      const [err, sent] = await sendBatchP(tx, msgs, port, '127.0.0.1');
      t.is(err, null);
      t.is(sent, sizes.length);
      await fence(tx, got, port, '127.0.0.1');
      t.is(got.length, sizes.length);
      let bad = 0;
      got.forEach(({ data, rinfo }, i) => {
        if (!data.equals(msgs[i]) || rinfo.size !== sizes[i] || rinfo.port !== tx.address().port ||
            rinfo.address !== '127.0.0.1' || rinfo.family !== 'IPv4') bad++;
      });
      t.is(bad, 0, 'datagrams differing from what was sent, in order');
      t.deepEqual(got.map((m) => m.rinfo.size), sizes);
      const ts = tx.stats();
      const rs = rx.stats();
      t.is(ts.datagramsSent, sizes.length + 1); // + the fence
      t.is(ts.bytesSent, sum(sizes) + FENCE_LEN);
      t.is(rs.bytesReceived, sum(sizes) + FENCE_LEN);
      t.is(rs.datagramsReceived, sizes.length + 1);
      t.is(rs.datagramsSent, 0);
      t.is(rs.bytesSent, 0);
      t.is(ts.datagramsReceived, 0);
      t.is(rs.kernelDrops, 0);
      t.is(rs.queueDrops, 0);
      await closeAll(rx, tx);
    });
  }
}

test('stats() count exactly the batch bytes and datagrams on both sides (no fence)', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF, gro: true });
  const tx = await xbound(t, 'udp4');
  const got = collector(rx);
  const sizes = [...Array(130).fill(700), 3];
  const [err, sent] = await sendBatchP(tx, sizes.map((s, i) => payload(i, s)), rx.address().port, '127.0.0.1');
  t.is(err, null);
  t.is(sent, 131);
  await until(() => got.length >= sizes.length);
  await sleep(20);
  t.is(got.length, sizes.length);
  t.like(tx.stats(), { datagramsSent: 131, bytesSent: sum(sizes), datagramsReceived: 0, bytesReceived: 0 });
  t.like(rx.stats(), { datagramsReceived: 131, bytesReceived: sum(sizes), datagramsSent: 0, bytesSent: 0, kernelDrops: 0, queueDrops: 0 });
  await closeAll(rx, tx);
  // After close, stats() still answers with the final counts.
  t.like(tx.stats(), { datagramsSent: 131, bytesSent: sum(sizes) });
  t.like(rx.stats(), { datagramsReceived: 131, bytesReceived: sum(sizes) });
});

testUnless(groMissing, 'GRO: a GSO burst is split back into its datagrams in a DatagramBatch (sizes, contents, rinfo)', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF, gro: true });
  const tx = await xbound(t, 'udp4');
  const port = rx.address().port;
  const sizes = [...Array(150).fill(1000), 999];
  const msgs = sizes.map((s, i) => payload(i, s));
  const items: Item[] = [];
  let maxBatch = 0;
  rx.receiveBatches((b) => {
    maxBatch = Math.max(maxBatch, b.length);
    for (let i = 0; i < b.length; i++) items.push({ data: Buffer.from(b.data(i)), rinfo: b.rinfo(i) });
  });
  const [err, sent] = await sendBatchP(tx, msgs, port, '127.0.0.1');
  t.is(err, null);
  t.is(sent, sizes.length);
  await until(() => items.length >= sizes.length);
  t.is(items.length, sizes.length);
  t.deepEqual(items.map((m) => m.rinfo.size), sizes);
  t.deepEqual(items.map((m) => m.data.length), sizes);
  t.is(items.filter((m, i) => !m.data.equals(msgs[i])).length, 0);
  t.true(items.every((m) => m.rinfo.port === tx.address().port && m.rinfo.address === '127.0.0.1'));
  t.log(`largest batch: ${maxBatch} datagrams (more than one receive slot's worth means GRO coalesced)`);
  await closeAll(rx, tx);
});

// --- 2. Many destinations --------------------------------------------------------------------

for (const type of ['udp4', 'udp6'] as const) {
  const host = type === 'udp4' ? '127.0.0.1' : '::1';
  test(`sendBatch to many peers (${type}): interleaved destinations, each receiver gets its own in order`, async (t) => {
    const rxs = await Promise.all([0, 1, 2].map(() => xbound(t, type, { recvBufferSize: BIG_RCVBUF })));
    const tx = await xbound(t, type);
    const gots = rxs.map(collector);
    const ports = rxs.map((r) => r.address().port);
    const n = 300;
    // Mixed payload types and sizes; some entries leave the address to default (loopback).
    const entries = Array.from({ length: n }, (_, i) => {
      const r = (i * 7) % 3;
      const buf = payload(i, 8 + (i % 13) * 50);
      const data = i % 4 === 1 ? new Uint8Array(buf) : i % 4 === 2 ? new DataView(buf.buffer, buf.byteOffset, buf.length) : buf;
      return i % 5 === 0 ? { data, port: ports[r] } : { data, port: ports[r], address: host };
    });
    const strings = [{ data: 'str-0', port: ports[0], address: host }, { data: 'str-1', port: ports[1] }];
    const [err, sent] = await sendBatchP(tx, [...entries, ...strings]);
    t.is(err, null);
    t.is(sent, n + 2);
    for (let r = 0; r < 3; r++) await fence(tx, gots[r], ports[r], host);
    for (let r = 0; r < 3; r++) {
      const expected = entries.map((e, i) => [i, e] as const).filter(([, e]) => e.port === ports[r]);
      const extra = strings.filter((s) => s.port === ports[r]).map((s) => s.data);
      t.is(gots[r].length, expected.length + extra.length, `receiver ${r} count`);
      const mismatched = expected.filter(([i], k) => !gots[r][k]?.data.equals(payload(i, 8 + (i % 13) * 50))).length;
      t.is(mismatched, 0, `receiver ${r} contents/order`);
      t.deepEqual(gots[r].slice(expected.length).map((m) => m.data.toString()), extra);
      t.true(gots[r].every((m) => m.rinfo.address === host && m.rinfo.port === tx.address().port &&
        m.rinfo.family === (type === 'udp4' ? 'IPv4' : 'IPv6') && m.rinfo.size === m.data.length));
    }
    const bytes = sum(entries.map((e) => (e.data as ArrayBufferView).byteLength)) + 'str-0str-1'.length;
    t.like(tx.stats(), { datagramsSent: n + 2 + 3, bytesSent: bytes + 3 * FENCE_LEN }); // + three fences
    t.is(sum(rxs.map((r) => r.stats().datagramsReceived)), n + 2 + 3);
    t.is(sum(rxs.map((r) => r.stats().bytesReceived)), bytes + 3 * FENCE_LEN);
    await closeAll(tx, ...rxs);
  });
}

// --- 3. Errors per datagram, partial sends, bad arguments ------------------------------------

test('sendBatch, one destination: datagram k too large → cb(EMSGSIZE with index k, k); the first k arrived', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t, 'udp4');
  const got = collector(rx);
  const port = rx.address().port;
  const k = 5;
  const msgs = Array.from({ length: 10 }, (_, i) => payload(i, i === k ? 70000 : 100 + i));
  const [err, sent] = await sendBatchP(tx, msgs, port, '127.0.0.1');
  t.deepEqual(outcome(err, sent), expected(await nodeSendError('udp4', msgs[k], port, '127.0.0.1'), k));
  await fence(tx, got, port, '127.0.0.1');
  t.deepEqual(got.map((m) => m.data), msgs.slice(0, k));
  t.is(tx.stats().datagramsSent, k + 1); // + the fence
  await closeAll(rx, tx);
});

test('sendBatch, one destination: equal-sized datagrams too large (the GSO path) → EMSGSIZE as send() gives', async (t) => {
  const rx = await xbound(t, 'udp4');
  const tx = await xbound(t, 'udp4');
  const got = collector(rx);
  const port = rx.address().port;
  for (const size of [65508, 70000]) {
    const msgs = [payload(0, size), payload(1, size), payload(2, size)];
    const [err, sent] = await sendBatchP(tx, msgs, port, '127.0.0.1');
    t.deepEqual(outcome(err, sent), expected(await nodeSendError('udp4', msgs[0], port, '127.0.0.1'), 0), `${size} bytes`);
  }
  // A good prefix, then equal oversized datagrams: the error lands on the first of them.
  const msgs = [payload(0, 100), payload(1, 100), payload(2, 70000), payload(3, 70000)];
  const [err, sent] = await sendBatchP(tx, msgs, port, '127.0.0.1');
  t.is(err?.code, 'EMSGSIZE');
  t.is(err?.index, 2);
  t.is(sent, 2);
  await fence(tx, got, port, '127.0.0.1');
  t.deepEqual(got.map((m) => m.data), msgs.slice(0, 2));
  await closeAll(rx, tx);
});

test('sendBatch, many destinations: datagram k too large → cb(EMSGSIZE with its address/port and index k, k)', async (t) => {
  const rxs = await Promise.all([0, 1].map(() => xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF })));
  const tx = await xbound(t, 'udp4');
  const gots = rxs.map(collector);
  const ports = rxs.map((r) => r.address().port);
  const k = 3;
  const entries = Array.from({ length: 6 }, (_, i) => ({ data: payload(i, i === k ? 70000 : 50), port: ports[i % 2], address: '127.0.0.1' }));
  const [err, sent] = await sendBatchP(tx, entries);
  t.deepEqual(outcome(err, sent), expected(await nodeSendError('udp4', entries[k].data, ports[k % 2], '127.0.0.1'), k));
  for (let r = 0; r < 2; r++) await fence(tx, gots[r], ports[r], '127.0.0.1');
  t.deepEqual(gots[0].map((m) => m.data), [entries[0].data, entries[2].data]);
  t.deepEqual(gots[1].map((m) => m.data), [entries[1].data]);
  await closeAll(tx, ...rxs);
});

test('sendBatch, many destinations on udp4: an IPv6 destination at k fails as send() would; the first k went out', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t, 'udp4');
  const got = collector(rx);
  const port = rx.address().port;
  const k = 2;
  const entries = [
    { data: 'a', port },
    { data: 'b', port, address: '127.0.0.1' },
    { data: 'c', port, address: '::1' },
    { data: 'd', port },
  ];
  const [err, sent] = await sendBatchP(tx, entries);
  t.deepEqual(outcome(err, sent), expected(await nodeSendError('udp4', 'c', port, '::1'), k));
  await fence(tx, got, port, '127.0.0.1');
  t.deepEqual(got.map((m) => m.data.toString()), ['a', 'b']);
  await closeAll(rx, tx);
});

test('sendBatch, many destinations on udp6: an IPv4 destination at k fails as send() would; the first k went out', async (t) => {
  const rx = await xbound(t, 'udp6', { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t, 'udp6');
  const got = collector(rx);
  const port = rx.address().port;
  const entries = [{ data: 'a', port, address: '::1' }, { data: 'b', port, address: '127.0.0.1' }, { data: 'c', port }];
  const [err, sent] = await sendBatchP(tx, entries);
  t.deepEqual(outcome(err, sent), expected(await nodeSendError('udp6', 'b', port, '127.0.0.1'), 1));
  await fence(tx, got, port, '::1');
  t.deepEqual(got.map((m) => m.data.toString()), ['a']);
  await closeAll(rx, tx);
});

test('sendBatch, one destination of the wrong family: the error send() gives, index 0, nothing sent', async (t) => {
  const tx = await xbound(t, 'udp4');
  const [err, sent] = await sendBatchP(tx, ['a', 'b'], 9, '::1');
  t.deepEqual(outcome(err, sent), expected(await nodeSendError('udp4', 'a', 9, '::1'), 0));
  t.is(tx.stats().datagramsSent, 0);
  await closeAll(tx);
});

test('sendBatch: invalid arguments throw synchronously with node:dgram codes, and nothing happens', async (t) => {
  const tx = own(t, udpx.createSocket('udp4'));
  let calls = 0;
  let listening = false;
  tx.on('listening', () => { listening = true; });
  const cb = () => { calls++; };
  const typeErr = { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError };
  const portErr = { code: 'ERR_SOCKET_BAD_PORT', instanceOf: RangeError };
  // Not an array.
  for (const bad of ['abc', Buffer.from('x'), undefined, null, 42, { length: 1, 0: 'a' }]) {
    t.throws(() => tx.sendBatch(bad, 9, '127.0.0.1', cb), typeErr);
  }
  // A bad payload, in either form.
  for (const bad of [[1], [null], ['a', 42], ['a', {}], [{ data: 5, port: 9 }], [{ data: 'ok', port: 9 }, { data: null, port: 9 }]]) {
    t.throws(() => tx.sendBatch(bad, 9, '127.0.0.1', cb), typeErr);
  }
  // A bad port.
  for (const bad of [0, -1, 65536, 1.5, NaN, 'x', '', undefined, null, {}]) {
    t.throws(() => tx.sendBatch(['a'], bad, '127.0.0.1', cb), portErr);
  }
  t.throws(() => tx.sendBatch(['a'], cb), portErr); // unconnected: a port is required
  for (const bad of [0, 70000, -5, undefined, 'nope']) {
    t.throws(() => tx.sendBatch([{ data: 'a', port: 9 }, { data: 'b', port: bad }], cb), portErr);
  }
  // A bad address type.
  t.throws(() => tx.sendBatch(['a'], 9, 5, cb), typeErr);
  t.throws(() => tx.sendBatch([{ data: 'a', port: 9, address: 5 }], cb), typeErr);
  await tick();
  await sleep(10);
  t.is(calls, 0, 'no callback');
  t.false(listening, 'no implicit bind');
  t.is(tx.stats().datagramsSent, 0);
  await closeAll(tx);
  t.throws(() => tx.sendBatch(['a'], 9, '127.0.0.1'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
});

test('sendBatch on a connected socket given a destination throws ERR_SOCKET_DGRAM_IS_CONNECTED', async (t) => {
  const rx = await xbound(t, 'udp4');
  const tx = await xbound(t, 'udp4');
  tx.connect(rx.address().port, '127.0.0.1');
  await once(tx, 'connect');
  const connErr = { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' };
  t.throws(() => tx.sendBatch(['a'], rx.address().port), connErr);
  t.throws(() => tx.sendBatch(['a'], rx.address().port, '127.0.0.1', () => {}), connErr);
  t.throws(() => tx.sendBatch([{ data: 'a', port: rx.address().port }]), connErr);
  t.throws(() => tx.sendBatch([{ data: 'a', port: rx.address().port, address: '127.0.0.1' }], () => {}), connErr);
  t.is(tx.stats().datagramsSent, 0);
  await closeAll(rx, tx);
});

// --- 4. Connected sockets, implicit bind, callback timing ------------------------------------

test('connected sendBatch(messages, cb): GSO and sendmmsg shapes arrive in order', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF, gro: true });
  const tx = await xbound(t, 'udp4');
  const got = collector(rx);
  const port = rx.address().port;
  tx.connect(port, '127.0.0.1');
  await once(tx, 'connect');
  const equal = Array.from({ length: 100 }, (_, i) => payload(i, i === 99 ? 10 : 600));
  const unequal = Array.from({ length: 100 }, (_, i) => payload(100 + i, 20 + i * 3));
  const [e1, n1] = await sendBatchP(tx, equal);
  t.is(e1, null);
  t.is(n1, 100);
  const [e2, n2] = await sendBatchP(tx, unequal);
  t.is(e2, null);
  t.is(n2, 100);
  tx.sendBatch(['no', 'callback']);
  await until(() => got.length >= 202);
  await sleep(20);
  t.is(got.length, 202);
  t.deepEqual(got.map((m) => m.data), [...equal, ...unequal, Buffer.from('no'), Buffer.from('callback')]);
  t.true(got.every((m) => m.rinfo.port === tx.address().port && m.rinfo.size === m.data.length));
  t.like(tx.stats(), { datagramsSent: 202, bytesSent: sum([...equal, ...unequal].map((b) => b.length)) + 10 });
  await closeAll(rx, tx);
});

test('connected sendBatch: too large a datagram fails with EMSGSIZE at its index', async (t) => {
  const rx = await xbound(t, 'udp4');
  const tx = await xbound(t, 'udp4');
  const got = collector(rx);
  tx.connect(rx.address().port, '127.0.0.1');
  await once(tx, 'connect');
  const [err, sent] = await sendBatchP(tx, ['a', 'bb', Buffer.alloc(70000), 'c']);
  t.is(err?.code, 'EMSGSIZE');
  t.is(err?.syscall, 'send');
  t.is(err?.index, 2);
  t.is(sent, 2);
  tx.send('end');
  await until(() => got.length >= 3);
  await sleep(20);
  t.deepEqual(got.map((m) => m.data.toString()), ['a', 'bb', 'end']);
  await closeAll(rx, tx);
});

test('sendBatch before bind: implicit bind, queued until listening, callback after listening, order kept', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF });
  const got = collector(rx);
  const port = rx.address().port;
  const tx = own(t, udpx.createSocket('udp4'));
  const order: string[] = [];
  tx.on('listening', () => order.push('listening'));
  const first = Array.from({ length: 64 }, (_, i) => payload(i, 300)); // GSO shape
  const third = [{ data: 'm0', port }, { data: 'm1', port, address: '127.0.0.1' }];
  const results: Array<[any, number]> = [];
  tx.sendBatch(first, port, '127.0.0.1', (err: any, n: number) => { order.push('cb1'); results.push([err, n]); });
  tx.send('single', port, '127.0.0.1', () => order.push('send'));
  tx.sendBatch(third, (err: any, n: number) => { order.push('cb3'); results.push([err, n]); });
  t.deepEqual(order, [], 'nothing synchronous');
  await until(() => order.length >= 4);
  t.deepEqual(order, ['listening', 'cb1', 'send', 'cb3']);
  t.deepEqual(results, [[null, 64], [null, 2]]);
  await until(() => got.length >= 67);
  await sleep(20);
  t.deepEqual(got.map((m) => m.data.toString('latin1')), [...first.map((b) => b.toString('latin1')), 'single', 'm0', 'm1']);
  t.true(got.every((m) => m.rinfo.port === tx.address().port));
  await closeAll(rx, tx);
});

test('sendBatch callback: synchronous completion calls back on a later tick; an empty batch gives (null, 0)', async (t) => {
  const rx = await xbound(t, 'udp4');
  const tx = await xbound(t, 'udp4');
  const got = collector(rx);
  const port = rx.address().port;
  for (const args of [[['a', 'b'], port, '127.0.0.1'], [[{ data: 'c', port }]], [[], port, '127.0.0.1']]) {
    let sync = true;
    const r = new Promise<[any, number]>((resolve) => tx.sendBatch(...args, (e: any, n: number) => {
      t.false(sync, 'callback not synchronous');
      resolve([e, n]);
    }));
    sync = false;
    const [e, n] = await r;
    t.is(e, null);
    t.is(n, (args[0] as unknown[]).length);
  }
  // Address omitted: loopback, as send() does.
  const [e, n] = await sendBatchP(tx, ['dflt'], port);
  t.is(e, null);
  t.is(n, 1);
  await until(() => got.length >= 4);
  t.deepEqual(got.map((m) => m.data.toString()), ['a', 'b', 'c', 'dflt']);
  t.true(got.every((m) => m.rinfo.port === tx.address().port && m.rinfo.address === '127.0.0.1'));
});

// --- 5. receiveBatches ---------------------------------------------------------------------

test('receiveBatches: DatagramBatch contents, order and rinfo; message listeners fire too; null goes back', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF });
  const a = await xbound(t, 'udp4');
  const b = await xbound(t, 'udp4');
  const port = rx.address().port;
  const batched: Item[] = [];
  const fromIterable: Item[] = [];
  let batches = 0;
  let checks = 0;
  rx.receiveBatches((batch) => {
    batches++;
    t.true(batch.length > 0);
    t.true(Buffer.isBuffer(batch.buffer));
    let total = 0;
    for (let i = 0; i < batch.length; i++) {
      const d = batch.data(i);
      total += d.length;
      t.is(d.buffer, batch.buffer.buffer, 'data(i) is a view into buffer');
      if (batch.size(i) !== d.length) t.fail('size(i) !== data(i).length');
      const r = batch.rinfo(i);
      if (r.address !== batch.address(i) || r.port !== batch.port(i) || r.size !== batch.size(i) || r.family !== 'IPv4') t.fail('rinfo(i) mismatch');
      batched.push({ data: Buffer.from(d), rinfo: r });
      checks++;
    }
    t.is(total, batch.buffer.length);
    t.throws(() => batch.data(batch.length), { instanceOf: RangeError });
    t.throws(() => batch.rinfo(-1), { instanceOf: RangeError });
    for (const item of batch) fromIterable.push({ data: Buffer.from(item.data), rinfo: item.rinfo });
  });
  const perMessage = collector(rx);
  // Two senders interleaved: the port of each datagram must be its own.
  const n = 120;
  const msgs = Array.from({ length: n }, (_, i) => payload(i, 5 + (i % 17) * 9));
  for (let i = 0; i < n; i++) (i % 3 === 0 ? b : a).send(msgs[i], port, '127.0.0.1');
  await until(() => perMessage.length >= n);
  await sleep(20);
  t.is(checks, n);
  t.true(batches >= 1 && batches <= n);
  t.deepEqual(batched.map((m) => m.data), msgs);
  t.deepEqual(fromIterable, batched);
  t.deepEqual(perMessage.map((m) => m.data), msgs);
  t.deepEqual(perMessage.map((m) => m.rinfo), batched.map((m) => m.rinfo));
  t.deepEqual(batched.map((m) => m.rinfo.port), msgs.map((_, i) => (i % 3 === 0 ? b : a).address().port));
  t.true(batched.every((m) => m.rinfo.address === '127.0.0.1' && m.rinfo.size === m.data.length));
  // Back to per-message delivery.
  t.is(rx.receiveBatches(null), rx);
  const before = batches;
  for (let i = 0; i < 10; i++) a.send(`after-${i}`, port, '127.0.0.1');
  await until(() => perMessage.length >= n + 10);
  await sleep(20);
  t.is(batches, before, 'the batch handler no longer runs');
  t.deepEqual(perMessage.slice(n).map((m) => m.data.toString()), Array.from({ length: 10 }, (_, i) => `after-${i}`));
  t.throws(() => rx.receiveBatches('nope' as any), { code: 'ERR_INVALID_ARG_TYPE' });
  t.like(rx.stats(), { datagramsReceived: n + 10, bytesReceived: sum(msgs.map((m) => m.length)) + 10 * 'after-0'.length });
  await closeAll(rx, a, b);
  t.throws(() => rx.receiveBatches(() => {}), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
});

test('receiveBatches on udp6: rinfo family IPv6 and address ::1', async (t) => {
  const rx = await xbound(t, 'udp6', { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t, 'udp6');
  const got: Item[] = [];
  rx.receiveBatches((batch) => { for (const item of batch) got.push({ data: Buffer.from(item.data), rinfo: item.rinfo }); });
  const [err, sent] = await sendBatchP(tx, ['one', 'two', 'three'], rx.address().port, '::1');
  t.is(err, null);
  t.is(sent, 3);
  await until(() => got.length >= 3);
  t.deepEqual(got.map((m) => m.data.toString()), ['one', 'two', 'three']);
  t.deepEqual(got[0].rinfo, { address: '::1', family: 'IPv6', port: tx.address().port, size: 3 });
  await closeAll(rx, tx);
});

// --- 6. Largest datagrams arrive whole -----------------------------------------------------

for (const [type, host, size] of [['udp4', '127.0.0.1', 65507], ['udp6', '::1', 65527]] as const) {
  test(`a ${size}-byte ${type} datagram arrives whole: send and sendBatch, message and batch, with and without GRO`, async (t) => {
    for (const gro of [false, true]) {
      const rx = await xbound(t, type, { recvBufferSize: BIG_RCVBUF, gro });
      const tx = await xbound(t, type);
      const port = rx.address().port;
      const perMessage = collector(rx);
      const big = [payload(1, size), payload(2, size), payload(3, size)];
      tx.send(big[0], port, host);
      await until(() => perMessage.length >= 1);
      const [err, sent] = await sendBatchP(tx, [big[1], big[2]], port, host);
      t.is(err, null);
      t.is(sent, 2);
      await until(() => perMessage.length >= 3);
      const batched: Item[] = [];
      rx.receiveBatches((b) => { for (const item of b) batched.push({ data: Buffer.from(item.data), rinfo: item.rinfo }); });
      const [err2] = await sendBatchP(tx, [big[2], big[0]], port, host);
      t.is(err2, null);
      await until(() => batched.length >= 2);
      await sleep(20);
      t.deepEqual(perMessage.map((m) => m.rinfo.size), [size, size, size, size, size], `GRO ${gro}`);
      t.true(perMessage.every((m, i) => m.data.equals([...big, big[2], big[0]][i])));
      t.deepEqual(batched.map((m) => m.rinfo.size), [size, size]);
      t.true(batched[0]?.data.equals(big[2]) && batched[1]?.data.equals(big[0]));
      t.like(rx.stats(), { datagramsReceived: 5, bytesReceived: 5 * size });
      await closeAll(rx, tx);
    }
  });
}

// --- 7. The async iterator ---------------------------------------------------------------

test('async iterator: for await over the socket yields every datagram in order with rinfo', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t, 'udp4');
  const n = 300;
  const msgs = Array.from({ length: n }, (_, i) => payload(i, 40 + (i % 5)));
  const got: Item[] = [];
  const consume = (async () => {
    for await (const item of rx) {
      got.push({ data: Buffer.from(item.data), rinfo: item.rinfo });
      if (got.length === n) break;
    }
  })();
  for (let i = 0; i < n; i += 100) {
    const [err] = await sendBatchP(tx, msgs.slice(i, i + 100), rx.address().port, '127.0.0.1');
    t.is(err, null);
  }
  await Promise.race([consume, sleep(5000)]);
  t.is(got.length, n);
  t.deepEqual(got.map((m) => m.data), msgs);
  t.true(got.every((m) => m.rinfo.port === tx.address().port && m.rinfo.address === '127.0.0.1' &&
    m.rinfo.family === 'IPv4' && m.rinfo.size === m.data.length));
  t.like(rx.stats(), { datagramsReceived: n, kernelDrops: 0, queueDrops: 0 });
  await closeAll(rx, tx);
});

/**
 * Floods `rx` (iterator `it`, not consumed) with `total` datagrams numbered from 0, then
 * drains the iterator and sends numbered tail datagrams one at a time, each carrying the
 * kernel's current drop count. Returns what was yielded and the most that was received
 * while nobody consumed. `slow` consumes one datagram per loop turn.
 */
async function floodThenDrain(rx: XSocket, it: AsyncIterableIterator<Item>, tx: XSocket, total: number, tail: number, slow = false) {
  const port = rx.address().port;
  let sent = 0;
  let maxWhilePaused = 0;
  const sample = () => { maxWhilePaused = Math.max(maxWhilePaused, rx.stats().datagramsReceived); };
  while (sent < total) {
    const msgs = Array.from({ length: Math.min(100, total - sent) }, (_, i) => payload(sent + i, 64));
    const [err, n] = await sendBatchP(tx, msgs, port, '127.0.0.1');
    if (err) throw err;
    sent += n;
    await tick();
    sample();
  }
  for (let i = 0; i < 10; i++) {
    await sleep(5);
    sample();
  }
  const seqs: number[] = [];
  // One next() at a time: a timed-out wait keeps waiting on the same promise.
  let pending: Promise<IteratorResult<Item>> | null = null;
  const next = async () => {
    pending ??= it.next();
    const r = await Promise.race([pending, sleep(300).then(() => null)]);
    if (r) pending = null;
    return r;
  };
  for (let guard = 0; guard < total + tail + 10; guard++) {
    const r = await next();
    if (!r || r.done) break;
    seqs.push(r.value.data.readUInt32BE(0));
    if (slow) await tick(); // one datagram per loop turn: reads land on a part-full buffer
  }
  for (let i = 0; i < tail; i++) {
    tx.send(payload(sent, 64), port, '127.0.0.1');
    sent++;
    const r = await next();
    if (r && !r.done) seqs.push(r.value.data.readUInt32BE(0));
  }
  return { seqs, sent, maxWhilePaused };
}

testUnless(refusedByEmulator('dropCounting'), 'async iterator backpressure (small receive buffer): buffered stays bounded; yielded + kernelDrops + queueDrops === sent', async (t) => {
  const hwm = 16;
  const rx = await xbound(t, 'udp4', { recvBufferSize: 8192 });
  const tx = await xbound(t, 'udp4');
  const it = rx.messages({ highWaterMark: hwm });
  const { seqs, sent, maxWhilePaused } = await floodThenDrain(rx, it, tx, 2000, 3);
  const s = rx.stats();
  t.log({ yielded: seqs.length, kernelDrops: s.kernelDrops, queueDrops: s.queueDrops, maxWhilePaused });
  t.is(sent, 2003);
  t.true(maxWhilePaused <= 2 * hwm + 64 * 2, `received ${maxWhilePaused} while not consuming`);
  t.true(s.kernelDrops > 0, 'the kernel dropped, and it was counted');
  t.is(seqs.length + s.kernelDrops + s.queueDrops, sent, 'every datagram accounted for');
  t.is(s.datagramsReceived, seqs.length + s.queueDrops);
  t.true(seqs.every((v, i) => i === 0 || v > seqs[i - 1]), 'in order, no duplicates');
  t.deepEqual(seqs.slice(-3), [2000, 2001, 2002], 'the tail arrived');
  await it.return!();
  await closeAll(rx, tx);
});

testUnless(refusedByEmulator('dropCounting'), 'async iterator backpressure (default receive buffer, slow consumer): bounded, and every datagram accounted for', async (t) => {
  const hwm = 16;
  const rx = await xbound(t, 'udp4');
  const tx = await xbound(t, 'udp4');
  const it = rx.messages({ highWaterMark: hwm });
  const { seqs, sent, maxWhilePaused } = await floodThenDrain(rx, it, tx, 2000, 3, true);
  const s = rx.stats();
  t.log({ yielded: seqs.length, kernelDrops: s.kernelDrops, queueDrops: s.queueDrops, maxWhilePaused });
  t.true(maxWhilePaused <= 2 * hwm + 64 * 2, `received ${maxWhilePaused} while not consuming`);
  t.true(s.kernelDrops + s.queueDrops > 0);
  t.is(seqs.length + s.kernelDrops + s.queueDrops, sent, 'every datagram accounted for');
  t.is(s.datagramsReceived, seqs.length + s.queueDrops);
  t.true(seqs.every((v, i) => i === 0 || v > seqs[i - 1]), 'in order, no duplicates');
  t.deepEqual(seqs.slice(-3), [2000, 2001, 2002]);
  await it.return!();
  await closeAll(rx, tx);
});

test('async iterator ends on close: a pending next() resolves done, for await finishes', async (t) => {
  const rx = await xbound(t, 'udp4');
  const tx = await xbound(t, 'udp4');
  const got: string[] = [];
  let ended = false;
  const loop = (async () => {
    for await (const { data } of rx) got.push(data.toString());
    ended = true;
  })();
  await sendBatchP(tx, ['a', 'b', 'c'], rx.address().port, '127.0.0.1');
  await until(() => got.length >= 3);
  t.false(ended);
  rx.close();
  await Promise.race([loop, sleep(2000)]);
  t.true(ended);
  t.deepEqual(got, ['a', 'b', 'c']);
  // An iterator made before close and never started: done after close.
  const rx2 = await xbound(t, 'udp4');
  const it = rx2.messages();
  const pending = it.next();
  rx2.close();
  t.deepEqual(await Promise.race([pending, sleep(2000).then(() => 'timeout')]), { value: undefined, done: true });
  t.deepEqual(await it.next(), { value: undefined, done: true });
  await closeAll(tx);
});

test("async iterator rejects on 'error' (ECONNREFUSED on a connected socket)", async (t) => {
  const dead = await xbound(t, 'udp4');
  const deadPort = dead.address().port;
  await closeAll(dead);
  const s = await xbound(t, 'udp4');
  s.connect(deadPort, '127.0.0.1');
  await once(s, 'connect');
  const loop = (async () => {
    for await (const _ of s) { /* nothing arrives */ }
  })();
  s.send('x');
  const err = await Promise.race([loop.then(() => null, (e) => e), sleep(3000).then(() => 'timeout')]);
  t.is(err?.code, 'ECONNREFUSED');
  t.is(err?.syscall, 'recvmsg');
  await closeAll(s);
});

test('async iterator: break detaches; later datagrams go to message listeners; a new iterator starts fresh', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t, 'udp4');
  const port = rx.address().port;
  // Fill to the high-water mark so reading is paused when we break.
  const it = rx.messages({ highWaterMark: 16 });
  const [err] = await sendBatchP(tx, Array.from({ length: 50 }, (_, i) => `early-${i}`), port, '127.0.0.1');
  t.is(err, null);
  await sleep(20);
  const first = await Promise.race([it.next(), sleep(2000).then(() => null)]);
  t.is(first?.value?.data.toString(), 'early-0');
  t.deepEqual(await it.return!(), { value: undefined, done: true });
  t.deepEqual(await it.next(), { value: undefined, done: true });
  // Reading resumed: what the kernel held, and what comes next, goes to 'message'.
  const got = collector(rx);
  tx.send('later', port, '127.0.0.1');
  await until(() => got.some((m) => m.data.toString() === 'later'));
  t.is(got[got.length - 1]?.data.toString(), 'later');
  t.true(got.every((m) => /^(early-\d+|later)$/.test(m.data.toString())));
  // for await + break.
  const seen: string[] = [];
  const loop = (async () => {
    for await (const { data } of rx) {
      seen.push(data.toString());
      if (seen.length === 2) break;
    }
  })();
  await sendBatchP(tx, ['x0', 'x1', 'x2', 'x3'], port, '127.0.0.1');
  await Promise.race([loop, sleep(2000)]);
  t.deepEqual(seen, ['x0', 'x1']);
  const before = got.length;
  tx.send('after-break', port, '127.0.0.1');
  await until(() => got.some((m) => m.data.toString() === 'after-break'));
  t.deepEqual(got.slice(before).map((m) => m.data.toString()).filter((s) => !/^x\d$/.test(s)), ['after-break']);
  // A new iterator holds nothing from before.
  const it2 = rx.messages();
  tx.send('fresh', port, '127.0.0.1');
  const r = await Promise.race([it2.next(), sleep(2000).then(() => null)]);
  t.is(r?.value?.data.toString(), 'fresh');
  await it2.return!();
  await closeAll(rx, tx);
});

// 2 × highWaterMark below what one wake-up can bring (a recvmmsg batch, or a GRO-coalesced
// GSO burst): nothing is buffered and next() is waiting, yet the batch must not be dropped whole.
for (const [hwm, gro, count, size] of [[4, false, 50, 20], [16, true, 64, 100]] as const) {
  test(`async iterator, highWaterMark ${hwm}, GRO ${gro}: a burst of ${count} reaches a waiting consumer`, async (t) => {
    const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF, gro });
    const tx = await xbound(t, 'udp4');
    const it = rx.messages({ highWaterMark: hwm });
    t.teardown(() => { it.return!(); });
    const first = Promise.race([it.next(), sleep(5000).then(() => null)]);
    const [err, sent] = await sendBatchP(tx, Array.from({ length: count }, (_, i) => payload(i, size)), rx.address().port, '127.0.0.1');
    t.is(err, null);
    t.is(sent, count);
    const r = await first;
    const s = rx.stats();
    t.log({ datagramsReceived: s.datagramsReceived, queueDrops: s.queueDrops });
    t.truthy(r && !r.done, `the waiting consumer got nothing; queueDrops ${s.queueDrops} of ${s.datagramsReceived}`);
    t.is(r?.value?.data.readUInt32BE(0), 0, 'the first datagram first');
    t.true(s.queueDrops <= count - hwm, 'at most the excess over the bound is dropped');
  });
}

test('async iterator: concurrent next() calls each get a datagram, in order (async iterator protocol)', async (t) => {
  const rx = await xbound(t, 'udp4', { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t, 'udp4');
  const it = rx.messages();
  t.teardown(() => { it.return!(); });
  const a = it.next();
  const b = it.next();
  const c = it.next();
  await sendBatchP(tx, ['one', 'two', 'three'], rx.address().port, '127.0.0.1');
  const timeout = sleep(2000).then(() => 'timed out');
  const results = await Promise.all([a, b, c].map((p) => Promise.race([p, timeout])));
  t.deepEqual(results.map((r: any) => r?.value?.data?.toString() ?? r), ['one', 'two', 'three']);
});
