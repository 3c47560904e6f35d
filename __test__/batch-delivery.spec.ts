// Where received batches live: the binding writes each delivered batch (its fields, 16 bytes
// per datagram, then its payloads) into one ArrayBuffer of exactly that size, and cuts a
// receive larger than 64 KiB into several deliveries. These specs pin what that promises:
// every datagram intact whatever its size (0 B to the largest) and wherever the cuts fall,
// the right source per datagram, and that a datagram kept alive pins only its own delivery.
// Sizes and contents only; never timings.

import test, { ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import * as dgram from 'node:dgram';
import type { DatagramBatch } from '../lib/batch';
import { groMissing, testUnless } from './capabilities';
import { closeAll, udpx } from './helpers';

/** The byte cap of one delivery (fields and payloads): the most a kept datagram pins. */
const CAP = 64 * 1024;
const BIG_RCVBUF = 4 << 20;
const MAX_V4 = 65507;

interface XSocket extends dgram.Socket {
  receiveBatches(handler: ((batch: DatagramBatch) => void) | null): this;
  sendBatch(...args: any[]): void;
}

type Got = { data: Buffer; address: string; port: number; size: number };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(5);
}

/** A udpx socket bound to `address` (a loopback address), closed when the test ends. */
async function xbound(t: ExecutionContext, options: Record<string, unknown> = {}, address = '127.0.0.1'): Promise<XSocket> {
  const s = udpx.createSocket({ type: 'udp4', ...options } as any);
  t.teardown(() => closeAll(s));
  await new Promise<void>((resolve) => s.bind(0, address, resolve));
  return s as unknown as XSocket;
}

/** Datagram `i` of `size` bytes, distinct per index and position. */
function payload(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7) & 255;
  if (size >= 4) b.writeUInt32BE(i, 0);
  return b;
}

/** Collects every datagram of every batch (copied), and the batches themselves. */
function batchCollector(rx: XSocket) {
  const got: Got[] = [];
  const batches: DatagramBatch[] = [];
  rx.receiveBatches((b) => {
    batches.push(b);
    for (let i = 0; i < b.length; i++) {
      got.push({ data: Buffer.from(b.data(i)), address: b.address(i), port: b.port(i), size: b.size(i) });
    }
  });
  return { got, batches };
}

test('datagrams of mixed sizes (0 B to the largest) arrive intact across the cap; each delivery is capped', async (t) => {
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t);
  const { got, batches } = batchCollector(rx);
  // Two of 32,752 B with their fields make exactly the cap (2 × 32,768); one byte more does not.
  const sizes = [0, 1, 64, 1200, MAX_V4, 0, 30000, 40000, 16, MAX_V4, 0, 7, 32752, 32752, 32753, 32752, 2, 0];
  const msgs = sizes.map((n, i) => payload(i, n));
  // One tick of sends: they are all queued before the receiver's next wake-up, which reads
  // them with one recvmmsg (about 330 KiB in all, so several deliveries).
  for (const m of msgs) tx.send(m, rx.address().port, '127.0.0.1');
  await until(() => got.length >= msgs.length);
  await sleep(20);
  t.is(got.length, msgs.length);
  t.deepEqual(got.map((g) => g.size), sizes);
  t.true(got.every((g, i) => g.data.equals(msgs[i])), 'every payload intact');
  t.true(got.every((g) => g.address === '127.0.0.1' && g.port === tx.address().port));
  t.true(batches.length >= 2, `cut into several deliveries (${batches.length})`);
  for (const b of batches) {
    t.is(b.buffer.length, Array.from({ length: b.length }, (_, i) => b.size(i)).reduce((x, y) => x + y, 0));
    // A delivery's payloads and its 16 bytes of fields per datagram are within the cap,
    // unless it is a single datagram; its buffer holds exactly those.
    if (b.length > 1) t.true(b.buffer.length + 16 * b.length <= CAP, `delivery of ${b.length}: ${b.buffer.length} B`);
    t.is(b.buffer.buffer.byteLength, b.buffer.length + 16 * b.length, 'no more memory behind it');
  }
  t.like((rx as any).stats(), { datagramsReceived: msgs.length, bytesReceived: sizes.reduce((x, y) => x + y, 0) });
});

test('a kept datagram pins only its own delivery: one buffer per delivery, exactly its fields and payloads', async (t) => {
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t);
  const kept: Buffer[] = [];
  const sizes: number[] = [];
  let received = 0;
  rx.receiveBatches((b) => {
    received += b.length;
    kept.push(b.data(0));
    sizes.push(16 * b.length + b.buffer.length);
  });
  const rounds = 100;
  const per = 32;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < per; i++) tx.send(payload(r * per + i, 100), rx.address().port, '127.0.0.1');
    if (r % 8 === 7) await sleep(1);
  }
  await until(() => received >= rounds * per);
  t.is(received, rounds * per);
  // Each kept 100-byte datagram holds on to its delivery's memory and no more: at most 64
  // datagrams of 116 bytes, not the binding's 4 MiB receive area or a shared slab.
  t.is(new Set(kept.map((k) => k.buffer)).size, kept.length, 'one buffer per delivery');
  t.true(kept.every((k, i) => k.buffer.byteLength === sizes[i] && sizes[i] <= 64 * 116));
  t.true(kept.every((k, i) => k.length === 100 && (i === 0 || k.readUInt32BE(0) > kept[i - 1].readUInt32BE(0))), 'kept views still hold their datagrams');
});

test('sources per datagram across deliveries: three senders on three loopback addresses, sets changing', async (t) => {
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF });
  const senders = [await xbound(t), await xbound(t, {}, '127.0.0.2'), await xbound(t, {}, '127.0.0.3')];
  const { got } = batchCollector(rx);
  // Rounds of one tick each, every round from a different subset in a different order.
  const plan = [[0], [1], [2, 1], [0, 2], [0, 1, 2], [2], [1, 0], [0]];
  const want: Got[] = [];
  let k = 0;
  for (const round of plan) {
    for (let j = 0; j < 6; j++) {
      const s = senders[round[j % round.length]];
      const data = payload(k++, 20 + j);
      s.send(data, rx.address().port, '127.0.0.1');
      want.push({ data, address: s.address().address, port: s.address().port, size: data.length });
    }
    await until(() => got.length >= want.length);
  }
  await sleep(20);
  t.deepEqual(got, want);
});

testUnless(groMissing, 'GRO: coalesced runs near the cap in size arrive whole; each delivery within it', async (t) => {
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF, gro: true });
  const tx = await xbound(t);
  const { got, batches } = batchCollector(rx);
  // 64 × 1023 B: one GSO send; loopback's GRO hands over 63 of them as one slot of 64,449
  // bytes, whose delivery with its fields (65,457 B) is just within the cap.
  const msgs = Array.from({ length: 64 }, (_, i) => payload(i, 1023));
  for (let round = 0; round < 3; round++) {
    const [err, sent] = await new Promise<[any, number]>((resolve) =>
      tx.sendBatch(msgs, rx.address().port, '127.0.0.1', (e: any, n: number) => resolve([e, n])));
    t.is(err, null);
    t.is(sent, msgs.length);
  }
  await until(() => got.length >= 3 * msgs.length);
  await sleep(20);
  t.is(got.length, 3 * msgs.length);
  t.true(got.every((g, i) => g.size === 1023 && g.data.equals(msgs[i % 64])));
  for (const b of batches) {
    t.true(b.buffer.length + 16 * b.length <= CAP, `delivery of ${b.length}`);
    t.is(b.buffer.buffer.byteLength, b.buffer.length + 16 * b.length);
  }
});
