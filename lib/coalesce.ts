// Sends coalesced per run of the nextTick queue. On node:dgram each send() reaches the
// kernel in its own nextTick (after the address lookup), one system call each. Here the
// first send of a run of the nextTick queue goes to the kernel at once (so a lone send, a
// reply, costs nothing more), and the sends after it in the same run are collected, in
// order, in one process-wide list, and leave together: each run of consecutive sends of
// one socket in one native call (GSO for equal-size datagrams to one destination, else
// sendmmsg). The list is flushed by the first completion tick of its sends that has a
// callback (which needs its outcome), by a microtask queued by the run's first send (it
// runs when the nextTick queue is empty, before the event loop goes on), by any state
// change of a socket (close, connect, options, membership, queue sizes: the handle's
// `native` getter), by a send that is not coalesced, and at process exit. Flushing early is
// always safe: node:dgram had sent every pending datagram already. So datagrams leave in
// node:dgram's order and event-loop turn, across sockets too, and each send still reports
// its own outcome at node:dgram's position in the nextTick queue.

import { Buffer } from 'node:buffer';

import { reportUncaught } from './native';

/**
 * The part of a handle that sends a run of pending sends (see Handle.sendRun); `data`
 * holds their payloads back to back, each at its `offset`.
 */
export interface RunSender {
  sendRun(list: PendingSend[], from: number, to: number, data: Buffer): void;
}

/** Not flushed yet (see PendingSend.result). */
export const UNSENT = -0x7fffffff;

/** One datagram waiting for the flush. */
export class PendingSend {
  /**
   * After the flush: bytes + 1 when the kernel took it (node:dgram's synchronous finish),
   * a negative errno, or 0 when it waits in the socket's send queue (its `done` then runs
   * from the event loop). UNSENT before.
   */
  result = UNSENT;

  constructor(
    readonly sender: RunSender,
    /** The caller's buffer: a send that has to wait in the queue sends from it, as libuv's. */
    readonly buf: Uint8Array,
    /** Where its bytes were copied (see addPending), and how many. */
    readonly offset: number,
    readonly length: number,
    readonly port: number,
    readonly ip: string,
    /** The queued send's completion, as node:dgram's send callback (err, bytes). */
    readonly done: ((err: number, sent: number) => void) | undefined,
  ) {}
}

/** Until the first send: a process (or worker) that never sends allocates nothing. */
const EMPTY_STAGING = Buffer.alloc(0);
const STAGING_BYTES = 256 * 1024;

/**
 * The payloads of the pending sends, copied when each send reached node:dgram's kernel
 * call: a buffer changed (or transferred) by a tick before the flush still goes out as it
 * was, as node:dgram's had. Small ones are copied anyway into one buffer for the kernel.
 */
let staging = EMPTY_STAGING;
let stagingUsed = 0;

let pending: PendingSend[] = [];
/** The other list, reused: a flush swaps them, so a flush allocates nothing. */
let spare: PendingSend[] = [];
let exitHooked = false;
/** A send reached the kernel in this run of the nextTick queue: later ones are collected. */
let runOpen = false;

/**
 * Resolved once: `then(endRun)` queues a microtask like queueMicrotask, in the same queue
 * and order, without the AsyncResource and bound function queueMicrotask makes per call
 * (about 1,400 instructions per send run, measured in ping-pong). `then` as loaded, so
 * that a later patch of Promise.prototype.then (an APM's) does not see every send run.
 */
const RESOLVED = Promise.resolve();
const promiseThen = Promise.prototype.then;

function endRun(): void {
  runOpen = false;
  try {
    flushPending();
  } catch (e) {
    // As from queueMicrotask: an uncaught exception, not an unhandled rejection.
    reportUncaught(e);
  }
}

/**
 * Whether a send should join the list (a run is open); if not, this opens a run, and the
 * caller sends at once.
 */
export function joinRun(): boolean {
  if (runOpen) return true;
  runOpen = true;
  promiseThen.call(RESOLVED, endRun);
  return false;
}

/** Adds a send to the list (see joinRun). */
export function addPending(
  sender: RunSender,
  buf: Uint8Array,
  port: number,
  ip: string,
  done: ((err: number, sent: number) => void) | undefined,
): PendingSend {
  const len = buf.length;
  if (stagingUsed + len > staging.length) {
    // Sending early is safe: node:dgram had sent all of them already.
    flushPending();
    if (len > staging.length) staging = Buffer.allocUnsafeSlow(Math.max(len, STAGING_BYTES));
  }
  const p = new PendingSend(sender, buf, stagingUsed, len, port, ip, done);
  // A detached view has length 0 (and set() would throw).
  if (len > 0) staging.set(buf, stagingUsed);
  stagingUsed += len;
  if (pending.length === 0) {
    if (!exitHooked) {
      // process.exit() from a tick between a send and its flush: node:dgram's datagram
      // was already in the kernel.
      exitHooked = true;
      process.on('exit', flushPending);
    }
  }
  pending.push(p);
  return p;
}

/** Hands everything pending to the kernel, each run of one socket in one call. */
export function flushPending(): void {
  const list = pending;
  const n = list.length;
  if (n === 0) return;
  pending = spare;
  try {
    let i = 0;
    while (i < n) {
      const sender = list[i].sender;
      let j = i + 1;
      while (j < n && list[j].sender === sender) j++;
      sender.sendRun(list, i, j, staging);
      i = j;
    }
  } finally {
    stagingUsed = 0;
    list.length = 0;
    spare = list;
  }
}
