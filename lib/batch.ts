// udpx's batch extensions: datagrams received many at a time (a DatagramBatch per
// wake-up, or an async iterator with backpressure) and sent many per system call.

import { Buffer } from 'node:buffer';

/** What node:dgram passes as `rinfo`. */
export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
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
  ) {
    this.length = index ? index.length : meta.length / 4;
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
    return { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: this.port(i), size: this.size(i) };
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
  receiveBatches(handler: ((batch: DatagramBatch) => void) | null): unknown;
  setReading(on: boolean): void;
  countQueueDrops(n: number): void;
}

/**
 * An async iterator over received datagrams with a bounded buffer: above the high-water
 * mark reading pauses; if a batch still overflows twice that, its datagrams are dropped
 * and counted (`stats().queueDrops`).
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
  let waiting: { resolve: (r: IteratorResult<any>) => void; reject: (e: unknown) => void } | null = null;

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
  const settle = () => {
    if (!waiting) return;
    const w = waiting;
    if (buffered > 0) {
      waiting = null;
      w.resolve({ value: next(), done: false });
    } else if (failure) {
      waiting = null;
      w.reject(failure);
    } else if (done) {
      waiting = null;
      w.resolve({ value: undefined, done: true });
    }
  };
  const onBatch = (batch: DatagramBatch) => {
    if (buffered + batch.length > 2 * hwm) {
      host.countQueueDrops(batch.length);
      return;
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
    host.receiveBatches(null);
    if (paused) host.setReading(true);
    settle();
  };
  const onError = (err: unknown) => {
    failure = err;
    finish();
  };
  host.receiveBatches(onBatch);
  host.on('close', finish);
  host.on('error', onError);

  return {
    next() {
      if (buffered > 0) return Promise.resolve({ value: next(), done: false });
      if (failure) {
        const e = failure;
        failure = null;
        return Promise.reject(e);
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
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
