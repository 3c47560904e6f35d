// sendBatch over many distinct destinations and over more bytes than one native call takes:
// one lookup per distinct host (as send() would do per datagram), each datagram to its own
// host's address, a failing lookup stopping the batch, and windows of the send buffer
// (256 datagrams or 1 MiB per call) that keep order and contents. Counts, never timings.

import test, { ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import * as dgram from 'node:dgram';
import { bound, closeAll, once, udpx } from './helpers';

const BIG_RCVBUF = 4 << 20;

type Item = { data: Buffer; rinfo: dgram.RemoteInfo & { destination?: string } };

function collector(s: dgram.Socket): Item[] {
  const got: Item[] = [];
  s.on('message', (data, rinfo) => got.push({ data, rinfo }));
  return got;
}

/** Waits (bounded) until `cond()` holds. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

/** Datagram `i` of `size` bytes: the index up front, then a pattern. */
function payload(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j++) b[j] = (i * 7 + j * 13) & 255;
  b.writeUInt32BE(i, 0);
  return b;
}

function sendBatchP(s: any, ...args: any[]): Promise<[any, number]> {
  return new Promise((resolve) => s.sendBatch(...args, (err: any, sent: number) => resolve([err, sent])));
}

/** A udp4 receiver on every loopback address (127.0.0.0/8) with the destination in rinfo. */
async function anyLoopbackReceiver(t: ExecutionContext): Promise<dgram.Socket> {
  const s: any = udpx.createSocket({ type: 'udp4', recvBufferSize: BIG_RCVBUF });
  t.teardown(() => closeAll(s));
  s.bind(0, '0.0.0.0');
  await once(s, 'listening');
  s.setRecvMetadata(true);
  return s;
}

/** Host names peer-0 .. peer-(n-1) for 127.0.0.1 .. 127.0.0.n; counts the lookups of each. */
function peerLookup(failing?: string) {
  const calls = new Map<string, number>();
  const lookup = (host: string, _opts: unknown, cb: (err: any, address?: string, family?: number) => void) => {
    calls.set(host, (calls.get(host) ?? 0) + 1);
    const m = /^peer-(\d+)$/.exec(host);
    if (host === failing || (!m && host !== '127.0.0.1')) {
      const err: any = new Error(`getaddrinfo ENOTFOUND ${host}`);
      err.code = 'ENOTFOUND';
      process.nextTick(cb, err);
    } else {
      process.nextTick(cb, null, m ? `127.0.0.${Number(m[1]) + 1}` : host, 4);
    }
  };
  return { calls, lookup };
}

test('sendBatch over 12 distinct hosts: one lookup per host, each datagram to its own address, in order', async (t) => {
  const rxs = [await anyLoopbackReceiver(t), await anyLoopbackReceiver(t)];
  const gots = rxs.map(collector);
  const ports = rxs.map((r) => r.address().port);
  const { calls, lookup } = peerLookup();
  const tx: any = udpx.createSocket({ type: 'udp4', lookup } as any);
  t.teardown(() => closeAll(tx));
  tx.bind(0, '127.0.0.1');
  await once(tx, 'listening');
  calls.clear(); // the bind's own lookup
  const n = 240;
  // Hosts cycle over 12 names (more than a window's short list holds), a few entries leave
  // the address out (the socket's default, looked up as 127.0.0.1).
  const entries = Array.from({ length: n }, (_, i) => ({
    data: payload(i, 20 + (i % 9) * 30),
    port: ports[(i >> 2) % 2],
    address: i % 25 === 3 ? undefined : `peer-${(i * 5) % 12}`,
  }));
  const [err, sent] = await sendBatchP(tx, entries);
  t.is(err, null);
  t.is(sent, n);
  const hosts = new Set(entries.map((e) => e.address ?? '127.0.0.1'));
  t.is(hosts.size, 13);
  t.deepEqual([...calls.keys()].sort(), [...hosts].sort());
  t.true([...calls.values()].every((c) => c === 1), 'one lookup per distinct host');
  await until(() => gots[0].length + gots[1].length >= n);
  for (let r = 0; r < 2; r++) {
    const mine = entries.map((e, i) => ({ e, i })).filter(({ e }) => e.port === ports[r]);
    t.is(gots[r].length, mine.length, `receiver ${r} count`);
    const wrong = mine.filter(({ e, i }, k) => {
      const m = gots[r][k];
      const ip = e.address === undefined ? '127.0.0.1' : `127.0.0.${Number(e.address.slice(5)) + 1}`;
      return !m || !m.data.equals(payload(i, e.data.length)) || m.rinfo.destination !== ip;
    });
    t.is(wrong.length, 0, `receiver ${r}: contents, order and destination address`);
  }
  t.like(tx.stats(), { datagramsSent: n });
});

test('sendBatch over many hosts: a failing lookup calls back with its error, nothing sent', async (t) => {
  const rx = await anyLoopbackReceiver(t);
  const got = collector(rx);
  const port = rx.address().port;
  const { calls, lookup } = peerLookup('peer-10');
  const tx: any = udpx.createSocket({ type: 'udp4', lookup } as any);
  t.teardown(() => closeAll(tx));
  tx.bind(0, '127.0.0.1');
  await once(tx, 'listening');
  let errors = 0;
  tx.on('error', () => errors++);
  const entries = Array.from({ length: 60 }, (_, i) => ({ data: payload(i, 40), port, address: `peer-${i % 12}` }));
  const [err, sent] = await sendBatchP(tx, entries);
  t.is(err?.code, 'ENOTFOUND');
  t.is(sent, 0);
  t.is(calls.get('peer-10'), 1);
  // A later batch of the good hosts goes out: what arrives is exactly that one.
  const good = entries.filter((e) => e.address !== 'peer-10' && e.address !== 'peer-11');
  t.deepEqual(await sendBatchP(tx, good), [null, good.length]);
  await until(() => got.length >= good.length);
  await new Promise((r) => setTimeout(r, 50));
  t.is(got.length, good.length);
  t.true(got.every((m, k) => m.data.equals(good[k].data)));
  t.is(errors, 0);
});

test('sendBatch of more than a 1 MiB window (unequal sizes, sendmmsg): all sent, in order, intact', async (t) => {
  const rx: any = await bound('udp4', { recvBufferSize: BIG_RCVBUF });
  t.teardown(() => closeAll(rx));
  const tx: any = await bound('udp4');
  t.teardown(() => closeAll(tx));
  const got = collector(rx);
  const sizes = Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 60000 : 59000 - i));
  const msgs = sizes.map((s, i) => payload(i, s));
  const total = sizes.reduce((a, b) => a + b, 0);
  t.true(total > 1 << 20);
  const [err, sent] = await sendBatchP(tx, msgs, rx.address().port, '127.0.0.1');
  t.is(err, null);
  t.is(sent, sizes.length);
  t.like(tx.stats(), { datagramsSent: sizes.length, bytesSent: total });
  // The receive buffer may be capped below the burst (net.core.rmem_max): what arrives must
  // be whole and in send order, and what did not is counted as dropped by the kernel.
  await until(() => got.length + rx.stats().kernelDrops >= sizes.length, 3000);
  const indices = got.map((m) => m.data.readUInt32BE(0));
  t.true(indices.every((v, k) => k === 0 || v > indices[k - 1]), 'in send order');
  t.true(got.every((m) => m.data.equals(msgs[m.data.readUInt32BE(0)])), 'intact');
  t.true(got.length > 0);
});

/** A receiver, and a bound socket of the binding itself (the batch-send functions' own arguments, no facade). */
async function nativeSender(t: ExecutionContext) {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const native = require('../lib/native');
  const rx = await bound('udp4');
  t.teardown(() => closeAll(rx));
  const got = collector(rx);
  const sock = new native.NativeSocket(false);
  t.teardown(() => sock.close());
  t.is(sock.bind('127.0.0.1', 0, 0), 0);
  return { native, rx, got, sock };
}

test("the binding's batch-send functions refuse a count past their arrays or bytes past the buffer (EINVAL), sending nothing", async (t) => {
  const { native, rx, got, sock } = await nativeSender(t);
  const sender = sock.batchSender();
  const port = rx.address().port;
  const EINVAL = native.errno.EINVAL;
  const data = Buffer.alloc(64, 7);
  const lengths = new Uint32Array([16, 16]);
  const ports = new Uint32Array([port, port]);
  const index = new Uint32Array([0, 0]);
  t.is(native.sendPacked(sender, ['127.0.0.1'], data, 3, lengths, ports, index), EINVAL, 'count past lengths');
  t.is(native.sendPacked(sender, ['127.0.0.1'], data, 2, new Uint32Array([16, 60]), ports, index), EINVAL, 'lengths past the data');
  t.is(native.sendPacked(sender, ['127.0.0.1'], data, 2, lengths, ports.subarray(0, 1), index), EINVAL, 'ports shorter than count');
  t.is(native.sendSegmented(sender, data, 65, 16, port, '127.0.0.1'), EINVAL, 'bytes past the buffer');
  // In range, the same calls send: 2 packed datagrams, then 4 segments of 16 bytes.
  t.is(native.sendPacked(sender, ['127.0.0.1'], data, 2, lengths, ports, index), 2);
  t.is(native.sendSegmented(sender, data, 64, 16, port, '127.0.0.1'), 4);
  await until(() => got.length >= 6);
  t.deepEqual(got.map((m) => m.data.length), [16, 16, 16, 16, 16, 16]);
  sock.close();
  t.is(native.sendSegmented(sender, data, 64, 16, port, '127.0.0.1'), native.errno.EBADF, 'after close');
});

test("a hosts array whose getter detaches the data is read before the data: sendPacked sees the detached (empty) buffer and refuses, reading no freed memory", async (t) => {
  const { native, rx, got, sock } = await nativeSender(t);
  const port = rx.address().port;
  // Its own ArrayBuffer (not the pool's), so that transferring it detaches only this view.
  const data = new Uint8Array(new ArrayBuffer(4096)).fill(0x61);
  const hosts: string[] = [];
  let detached = false;
  Object.defineProperty(hosts, 0, {
    enumerable: true,
    get() {
      structuredClone(data.buffer, { transfer: [data.buffer] });
      detached = true;
      return '127.0.0.1';
    },
  });
  const r = native.sendPacked(sock.batchSender(), hosts, data, 1, new Uint32Array([4096]), new Uint32Array([port]), new Uint32Array([0]));
  t.true(detached, 'the getter ran');
  t.is(data.byteLength, 0, 'the data is detached');
  t.is(r, native.errno.EINVAL, 'refused: the datagram is past the (now empty) data');
  // Nothing went out: a datagram sent to ourselves would arrive within this round trip.
  rx.send('end', port, '127.0.0.1');
  await until(() => got.length >= 1);
  t.deepEqual(got.map((m) => m.data.toString()), ['end']);
});
