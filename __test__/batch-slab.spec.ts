// Where received batches live: the binding writes each delivered batch (its meta fields, then
// its payloads) into a per-socket slab of 64 KiB, cuts a receive larger than that into
// several deliveries, and starts a new slab when one is full or was taken away. These specs
// pin what that promises: every datagram intact whatever its size (0 B to the largest) and
// wherever the cuts fall, the right source per datagram, and that a datagram kept alive pins
// at most one slab. Sizes and contents only; never timings.

import test, { ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import * as dgram from 'node:dgram';
import type { DatagramBatch } from '../lib/batch';
import { groMissing, testUnless } from './capabilities';
import { closeAll, udpx } from './helpers';

/** The binding's slab: the byte cap of one delivery and the most a kept datagram pins. */
const SLAB = 64 * 1024;
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

test('datagrams of mixed sizes (0 B to the largest) arrive intact across the slab cap; each delivery is capped', async (t) => {
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t);
  const { got, batches } = batchCollector(rx);
  // Two of 32,752 B with their fields fill a slab exactly (2 × 32,768); one byte more does not fit.
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
    // A delivery's payloads and its 16 bytes of fields per datagram fit in one slab, unless
    // it is a single datagram too large for one (then its buffer is its own).
    if (b.length > 1) t.true(b.buffer.length + 16 * b.length <= SLAB, `delivery of ${b.length}: ${b.buffer.length} B`);
    t.true(b.buffer.buffer.byteLength <= Math.max(SLAB, b.buffer.length + 16 * b.length), 'no bigger memory behind it');
  }
  t.like((rx as any).stats(), { datagramsReceived: msgs.length, bytesReceived: sizes.reduce((x, y) => x + y, 0) });
});

test('a kept datagram pins at most one 64 KiB slab; small batches share slabs instead of one allocation each', async (t) => {
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t);
  const kept: Buffer[] = [];
  let received = 0;
  rx.receiveBatches((b) => {
    received += b.length;
    kept.push(b.data(0));
  });
  const rounds = 200;
  const per = 32;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < per; i++) tx.send(payload(r * per + i, 100), rx.address().port, '127.0.0.1');
    if (r % 8 === 7) await sleep(1); // several wake-ups, so many deliveries
  }
  await until(() => received >= rounds * per);
  t.is(received, rounds * per);
  const slabs = new Set(kept.map((k) => k.buffer));
  for (const ab of slabs) t.true(ab.byteLength <= SLAB, `a kept 100-byte datagram pins ${ab.byteLength} B`);
  // 6,400 datagrams of 116 bytes each (payload and fields) fill about 12 slabs, however
  // they were cut into deliveries: shared, not one buffer per delivery.
  // A delivery here is at most 64 × 116 B; a slab is left when the next one does not fit,
  // so each slab but the last holds more than SLAB - 8 KiB.
  const total = rounds * per * (100 + 16);
  t.true(kept.length > Math.ceil(total / (SLAB - 8 * 1024)) + 1, `enough deliveries to tell (${kept.length})`);
  t.true(slabs.size <= Math.ceil(total / (SLAB - 8 * 1024)) + 1, `${slabs.size} slabs for ${kept.length} deliveries`);
  t.true(kept.every((k, i) => k.length === 100 && (i === 0 || k.readUInt32BE(0) > kept[i - 1].readUInt32BE(0))), 'kept views still hold their datagrams');
});

/**
 * Takes `ab` away from its owner if this Node can: `ArrayBuffer.prototype.transfer` (Node
 * 22+), else a transferring `structuredClone`. The new owner's buffer, or null when `ab`
 * cannot be detached (Node marks external memory untransferable; Node 20 copies it).
 */
function takeAway(ab: ArrayBuffer): ArrayBuffer | null {
  const transfer = (ab as any).transfer as (() => ArrayBuffer) | undefined;
  if (typeof transfer === 'function') {
    try {
      return transfer.call(ab);
    } catch {
      // not detachable here: fall through
    }
  }
  try {
    const moved = structuredClone(ab, { transfer: [ab] });
    return ab.byteLength === 0 ? moved : null;
  } catch {
    return null;
  }
}

test('a slab taken away (its ArrayBuffer detached) is never written again; later batches are intact', async (t) => {
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t);
  const got: Buffer[] = [];
  let tried = false;
  let taken: ArrayBuffer | null = null;
  let kept: ArrayBuffer | null = null;
  let snapshot: Buffer | null = null;
  rx.receiveBatches((b) => {
    for (let i = 0; i < b.length; i++) got.push(Buffer.from(b.data(i)));
    if (!tried) {
      tried = true;
      const ab = b.buffer.buffer as ArrayBuffer;
      snapshot = Buffer.from(new Uint8Array(ab).slice());
      taken = takeAway(ab);
      if (taken === null) kept = ab;
    }
  });
  const n = 300;
  for (let i = 0; i < n; i++) {
    tx.send(payload(i, 50 + (i % 40)), rx.address().port, '127.0.0.1');
    if (i % 20 === 19) await sleep(1);
  }
  await until(() => got.length >= n);
  t.is(got.length, n);
  t.true(got.every((g, i) => g.equals(payload(i, 50 + (i % 40)))));
  t.true(tried);
  if (taken !== null) {
    t.true(Buffer.from(taken).equals(snapshot!), 'the detached memory was not written after it was taken');
  } else {
    // This Node cannot detach the slab: it stays with the batches, where only regions not
    // yet handed out are written (what the first handler saw is unchanged).
    t.log(`Node ${process.version} cannot detach a slab (external memory is untransferable here)`);
    const now = Buffer.from(kept!);
    const seen = got[0].length;
    t.true(now.subarray(0, 16 + seen).equals(snapshot!.subarray(0, 16 + seen)));
  }
});

test('slab memory is reused only zeroed: past each delivery, its slab holds nothing yet, also after collections', async (t) => {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF });
  const tx = await xbound(t);
  const zeros = Buffer.alloc(SLAB);
  let received = 0;
  let dirty = 0;
  let deliveries = 0;
  rx.receiveBatches((b) => {
    received += b.length;
    deliveries++;
    const ab = b.buffer.buffer as ArrayBuffer;
    const end = b.buffer.byteOffset + b.buffer.length;
    const rest = Buffer.from(ab, end, ab.byteLength - end);
    if (!rest.equals(zeros.subarray(0, rest.length))) dirty++;
  });
  const rounds = 60;
  for (let r = 0; r < rounds; r++) {
    // 64 datagrams of 900 B a round: about one slab per round, each left to the collector.
    for (let i = 0; i < 64; i++) tx.send(payload(r * 64 + i, 900), rx.address().port, '127.0.0.1');
    await until(() => received >= (r + 1) * 64, 2000);
    if (r % 5 === 4) {
      gc();
      await sleep(5); // Node hands collected external memory back on a later turn
    }
  }
  t.is(received, rounds * 64);
  t.true(deliveries >= rounds);
  t.is(dirty, 0, 'no delivery saw old bytes after its own');
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

testUnless(groMissing, 'GRO: coalesced runs near a slab in size arrive whole; each delivery within the cap', async (t) => {
  const rx = await xbound(t, { recvBufferSize: BIG_RCVBUF, gro: true });
  const tx = await xbound(t);
  const { got, batches } = batchCollector(rx);
  // 64 × 1023 B: one GSO send; loopback's GRO hands over 63 of them as one slot of 64,449
  // bytes, whose delivery with its fields (65,457 B) just fits in a slab.
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
    t.true(b.buffer.length + 16 * b.length <= SLAB && b.buffer.buffer.byteLength === SLAB, `delivery of ${b.length}`);
  }
});
