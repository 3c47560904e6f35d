// A socket's private state: one object per socket under one key, with named bind and
// connect states, as node:dgram keeps it (lib/internal/dgram.js).

import { EventEmitter } from 'node:events';
import type { BlockList } from 'node:net';

import type { DatagramBatch } from './batch';
import { ERR_SOCKET_DGRAM_NOT_RUNNING } from './errors';
import type { Handle } from './handle';

export const BIND_STATE_UNBOUND = 0;
export const BIND_STATE_BINDING = 1;
export const BIND_STATE_BOUND = 2;

export const CONNECT_STATE_DISCONNECTED = 0;
export const CONNECT_STATE_CONNECTING = 1;
export const CONNECT_STATE_CONNECTED = 2;

/**
 * The key of a socket's private state. Under --expose-internals (Node's own test suite)
 * it is node:dgram's key, so tests that reach into `socket[kStateSymbol]` find the state.
 */
export const kState: unique symbol = internalStateSymbol() ?? (Symbol('state symbol') as any);

function internalStateSymbol(): any {
  if (!process.execArgv.includes('--expose-internals') && !process.execArgv.includes('--expose_internals')) return undefined;
  try {
    return (require('internal/dgram') as { kStateSymbol?: symbol }).kStateSymbol;
  } catch {
    return undefined;
  }
}

/** What `stats()` reports; `queueDrops` is counted in the facade, the rest natively. */
export interface SocketStats {
  datagramsReceived: number;
  bytesReceived: number;
  datagramsSent: number;
  bytesSent: number;
  /** Dropped by the kernel: the receive buffer was full (SO_RXQ_OVFL). */
  kernelDrops: number;
  /** Dropped by udpx: an iterator's buffer was full. */
  queueDrops: number;
  /** Error-queue entries read (ICMP errors about sent datagrams), with `recvErrors` on. */
  icmpErrors: number;
}

export interface State {
  handle: Handle | null;
  receiving: boolean;
  bindState: number;
  connectState: number;
  queue: Array<() => void> | undefined;
  reuseAddr: boolean | undefined;
  reusePort: boolean | undefined;
  ipv6Only: boolean | undefined;
  recvBufferSize: number | undefined;
  sendBufferSize: number | undefined;
  receiveBlockList: BlockList | undefined;
  sendBlockList: BlockList | undefined;
  gro: boolean;
  recvMetadata: boolean;
  /** IP_RECVERR: ICMP errors as 'icmpError' events (set at 'listening' or by setRecvErrors). */
  recvErrors: boolean;
  lastStats?: Omit<SocketStats, 'queueDrops'>;
  clusterHandle?: { close(...args: unknown[]): unknown; unref?(): void };
  batchHandler: ((batch: DatagramBatch) => void) | null;
  /** Async iterators reading this socket, each fed every batch. */
  consumers: Set<(batch: DatagramBatch) => void>;
  /** How many of them are full: reading pauses while any is. */
  pausers: number;
  queueDrops: number;
}

/** Anything that carries a socket's state (the Socket; a type here to keep imports one-way). */
export interface HasState {
  [kState]: State;
}

/** The handle, as Node's methods reach `state.handle` (null, so a TypeError, once closed). */
export function handleOf(socket: HasState): Handle {
  return socket[kState].handle as Handle;
}

export function healthCheck(socket: HasState): void {
  if (!socket[kState].handle) throw ERR_SOCKET_DGRAM_NOT_RUNNING();
}

type Stateful = HasState & EventEmitter;

/**
 * Queues a call until 'listening', as node:dgram does while the implicit bind runs; a bind
 * error drops the queue. What the call throws when it runs goes to `fail`.
 */
export function enqueue(self: Stateful, run: () => void, fail: (err: unknown) => void): void {
  const state = self[kState];
  if (state.queue === undefined) {
    state.queue = [];
    self.once(EventEmitter.errorMonitor, onListenError);
    self.once('listening', onListenSuccess);
  }
  state.queue.push(queued(run, fail));
}

/**
 * A queued call that never throws: node:dgram re-runs a queued send() when the queue
 * flushes, and what it throws then (the socket was connected or closed in between, a
 * lookup threw) comes out of the 'listening' emit, where no caller can catch it and the
 * process dies. udpx hands it to `fail` instead (the call's callback, or 'error').
 */
export function queued(run: () => void, fail: (err: unknown) => void): () => void {
  return () => {
    try {
      run();
    } catch (err) {
      fail(err);
    }
  };
}

function onListenSuccess(this: Stateful): void {
  this.removeListener(EventEmitter.errorMonitor, onListenError);
  clearQueue.call(this);
}

function onListenError(this: Stateful): void {
  this.removeListener('listening', onListenSuccess);
  this[kState].queue = undefined;
}

function clearQueue(this: Stateful): void {
  const state = this[kState];
  const queue = state.queue!;
  state.queue = undefined;
  for (const entry of queue) entry();
}
