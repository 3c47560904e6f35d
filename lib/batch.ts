// udpx's batch extensions: datagrams received many at a time (a DatagramBatch per
// wake-up, or an async iterator with backpressure) and sent many per system call.

import { Buffer } from 'node:buffer';

/** What node:dgram passes as `rinfo`; the optional fields with `recvMetadata` on. */
export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
  /** The address the datagram was sent to: ours, a multicast group, or broadcast. */
  destination?: string;
  /** The interface it arrived on. */
  interface?: string;
  /** Its TOS byte / traffic class: DSCP << 2 | ECN. */
  tos?: number;
  /** When the kernel received it, in ms since the epoch (like Date.now(), sub-ms precise). */
  timestamp?: number;
  /** Whether it was cut short (never, with udpx's 64 KiB receive slots). */
  truncated?: boolean;
}

/**
 * The datagrams one wake-up brought in. Payloads are views into one buffer (no copy per
 * datagram); `rinfo(i)` builds node:dgram's object only when asked for.
 */
export class DatagramBatch {
  /** How many datagrams the batch holds. */
  readonly length: number;

  /** @internal */
  constructor(
    /** Every payload back to back. */
    readonly buffer: Buffer,
    private readonly meta: Uint32Array,
    private readonly addresses: string[],
    private readonly index: number[] | null,
    private readonly extras?: object[],
  ) {
    this.length = index ? index.length : meta.length / 4;
  }

  /** The first `n` datagrams as a batch of their own (views, no copy). */
  slice(n: number): DatagramBatch {
    const all = this.index ?? Array.from({ length: this.length }, (_, i) => i);
    return new DatagramBatch(this.buffer, this.meta, this.addresses, all.slice(0, Math.max(0, n)), this.extras);
  }

  private at(i: number): number {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`datagram index ${i} out of range (${this.length})`);
    return (this.index ? this.index[i] : i) * 4;
  }

  /** The payload of datagram `i`, a view into `buffer`. */
  data(i: number): Buffer {
    const k = this.at(i);
    return this.buffer.subarray(this.meta[k], this.meta[k] + this.meta[k + 1]);
  }

  address(i: number): string {
    return this.addresses[this.meta[this.at(i) + 3]];
  }

  port(i: number): number {
    return this.meta[this.at(i) + 2];
  }

  size(i: number): number {
    return this.meta[this.at(i) + 1];
  }

  rinfo(i: number): RemoteInfo {
    const address = this.address(i);
    const rinfo: RemoteInfo = { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: this.port(i), size: this.size(i) };
    const extra = this.extras?.[this.at(i) / 4];
    return extra ? Object.assign(rinfo, extra) : rinfo;
  }

  *[Symbol.iterator](): IterableIterator<{ data: Buffer; rinfo: RemoteInfo }> {
    for (let i = 0; i < this.length; i++) yield { data: this.data(i), rinfo: this.rinfo(i) };
  }
}

export interface IteratorOptions {
  /** Datagrams buffered before reading pauses (the kernel then queues, then drops). */
  highWaterMark?: number;
}

interface IteratorHost {
  on(event: string, fn: (...args: any[]) => void): unknown;
  removeListener(event: string, fn: (...args: any[]) => void): unknown;
  /** Starts feeding `fn` every batch; returns the function that stops it. */
  consume(fn: (batch: DatagramBatch) => void): () => void;
  /** One iterator's vote: false while it is full. */
  setReading(on: boolean): void;
  countQueueDrops(n: number): void;
}

/**
 * Most datagrams one wake-up can deliver: 2 receive calls × 32 slots × 64 GRO segments.
 * Reading pauses at the high-water mark, so a buffer of hwm + this never overflows from a
 * single late wake-up.
 */
const MAX_WAKEUP = 4096;

/**
 * An async iterator over received datagrams with a bounded buffer: at the high-water mark
 * reading pauses (the kernel then queues, and drops what its buffer cannot hold); what
 * would still exceed highWaterMark + one wake-up is dropped and counted
 * (`stats().queueDrops`).
 */
export function messageIterator(host: IteratorHost, options: IteratorOptions = {}):
  AsyncIterableIterator<{ data: Buffer; rinfo: RemoteInfo }> {
  const hwm = Math.max(1, options.highWaterMark ?? 4096);
  const batches: DatagramBatch[] = [];
  let head = 0; // next datagram in batches[0]
  let buffered = 0;
  let paused = false;
  let done = false;
  let failure: unknown = null;
  const waiting: Array<{ resolve: (r: IteratorResult<any>) => void; reject: (e: unknown) => void }> = [];

  const next = (): { data: Buffer; rinfo: RemoteInfo } => {
    const b = batches[0];
    const item = { data: b.data(head), rinfo: b.rinfo(head) };
    buffered--;
    if (++head === b.length) {
      batches.shift();
      head = 0;
    }
    if (paused && buffered <= hwm / 2) {
      paused = false;
      host.setReading(true);
    }
    return item;
  };
  // Pending next() calls are answered in order.
  const settle = () => {
    while (waiting.length > 0) {
      if (buffered > 0) {
        waiting.shift()!.resolve({ value: next(), done: false });
      } else if (failure) {
        const e = failure;
        failure = null;
        waiting.shift()!.reject(e);
      } else if (done) {
        waiting.shift()!.resolve({ value: undefined, done: true });
      } else {
        return;
      }
    }
  };
  const onBatch = (batch: DatagramBatch) => {
    const room = hwm + MAX_WAKEUP - buffered;
    if (room <= 0) {
      host.countQueueDrops(batch.length);
      return;
    }
    if (batch.length > room) {
      host.countQueueDrops(batch.length - room);
      batch = batch.slice(room);
    }
    batches.push(batch);
    buffered += batch.length;
    if (!paused && buffered >= hwm) {
      paused = true;
      host.setReading(false);
    }
    settle();
  };
  const finish = () => {
    if (done) return;
    done = true;
    host.removeListener('close', finish);
    host.removeListener('error', onError);
    stopConsuming();
    if (paused) {
      paused = false;
      host.setReading(true);
    }
    settle();
  };
  const onError = (err: unknown) => {
    failure = err;
    finish();
  };
  const stopConsuming = host.consume(onBatch);
  host.on('close', finish);
  host.on('error', onError);

  return {
    next() {
      if (waiting.length === 0) {
        if (buffered > 0) return Promise.resolve({ value: next(), done: false });
        if (failure) {
          const e = failure;
          failure = null;
          return Promise.reject(e);
        }
        if (done) return Promise.resolve({ value: undefined, done: true });
      }
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
      });
    },
    return() {
      batches.length = 0;
      buffered = 0;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
