// udpx's additions to node:dgram's Socket: batched send and receive, async iteration,
// GRO, TOS, receive metadata, don't-fragment, device binding and stats. They are installed
// on Socket.prototype (see socket.ts), so node:dgram's own members stay as they are.

import { Buffer } from 'node:buffer';
import { getSystemErrorName, types } from 'node:util';
import { constants as osConstants } from 'node:os';

const EMSGSIZE = osConstants.errno.EMSGSIZE;

import { DatagramBatch, IteratorOptions, messageIterator, RemoteInfo } from './batch';
import { isBlocked } from './blocklist';
import { BufferLike, Callback, notBufferLike, toBuffer } from './call-forms';
import {
  ERR_INVALID_ARG_TYPE,
  ERR_IP_BLOCKED,
  ERR_SOCKET_DGRAM_IS_CONNECTED,
  ERR_SOCKET_DGRAM_NOT_RUNNING,
  errnoException,
  exceptionWithHostPort,
} from './errors';
import type { Socket } from './socket';
import {
  BIND_STATE_BOUND,
  BIND_STATE_UNBOUND,
  CONNECT_STATE_CONNECTED,
  enqueue,
  handleOf,
  healthCheck,
  kState,
  SocketStats,
} from './state';
import { validateFunction, validateNumber, validatePort, validateString } from './validate';

export interface BatchMessage {
  data: BufferLike;
  port: number;
  address?: string;
}

/** `(err, sent)`: how many datagrams of a batch went out, and the error that stopped it. */
export type BatchCallback = (err: Error | null, sent: number) => void;

/** udpx's additions to node:dgram's Socket. */
export interface SocketExtensions {
  sendBatch(messages: BufferLike[], port: number, address?: string, callback?: BatchCallback): void;
  sendBatch(messages: BufferLike[], port: number, callback?: BatchCallback): void;
  sendBatch(messages: BatchMessage[] | BufferLike[], callback?: BatchCallback): void;
  receiveBatches(handler: ((batch: DatagramBatch) => void) | null): this;
  messages(options?: IteratorOptions): AsyncIterableIterator<{ data: Buffer; rinfo: RemoteInfo }>;
  [Symbol.asyncIterator](): AsyncIterableIterator<{ data: Buffer; rinfo: RemoteInfo }>;
  setGRO(on: boolean): void;
  setTOS(tos: number): number;
  setRecvMetadata(on: boolean): void;
  setRecvErrors(on: boolean): void;
  setDontFragment(on: boolean): boolean;
  bindToDevice(name: string | null): void;
  stats(): SocketStats;
}

/** The largest IPv4 UDP payload; bigger datagrams go the plain way and fail EMSGSIZE. */
const MAX_UDP_PAYLOAD = 65507;

const emptyStats = { datagramsReceived: 0, bytesReceived: 0, datagramsSent: 0, bytesSent: 0, kernelDrops: 0, icmpErrors: 0 };

/** What an 'icmpError' event carries: one ICMP error about a datagram this socket sent. */
export interface IcmpErrorInfo {
  /** The errno name the kernel maps it to: ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EMSGSIZE... */
  code: string | undefined;
  /** Its negative errno, as Node's errors carry. */
  errno: number;
  /** Who reported it: 'icmp', 'icmp6', or 'local' (the sending host itself). */
  origin: 'icmp' | 'icmp6' | 'local' | 'other';
  icmpType: number;
  icmpCode: number;
  /** The next-hop MTU, for fragmentation needed / packet too big (EMSGSIZE). */
  mtu?: number;
  /** The destination of the datagram the error is about. */
  address: string | undefined;
  port: number | undefined;
  /** The host that sent the ICMP message, where known. */
  offender: string | undefined;
}

/**
 * IP_RECVERR on or off: with it on, each ICMP error about a sent datagram (port or host
 * unreachable, fragmentation needed, TTL exceeded) is read from the socket's error queue
 * and emitted as 'icmpError' (never as 'error'), and counted in stats().icmpErrors.
 */
export function enableRecvErrors(socket: Socket, on: boolean): number {
  const native = socket[kState].handle!.native;
  if (on) {
    const err = native.setIcmpErrorHandler(((errno: number, origin: IcmpErrorInfo['origin'], icmpType: number, icmpCode: number,
      info: number, offender: string | undefined, address: string | undefined, port: number | undefined) => {
      const event: IcmpErrorInfo = {
        code: errno ? getSystemErrorName(errno) : undefined, errno, origin, icmpType, icmpCode,
        address, port, offender,
      };
      if (info && errno === -EMSGSIZE) event.mtu = info;
      socket.emit('icmpError', event);
    }) as (arg?: unknown) => unknown);
    if (err) return err;
  }
  const err = socket[kState].handle!.setRecvErrors(on);
  if (!on || err) native.setIcmpErrorHandler(null);
  return err;
}

/**
 * Sends many datagrams with one system call per 64: `sendBatch(messages, port, address,
 * cb)` to one destination (UDP GSO when all but the last have one size), `sendBatch([{
 * data, port, address }], cb)` to many, `sendBatch(messages, cb)` on a connected socket.
 * `cb(err, sent)`: `sent` datagrams went out in order; `err` (with `index`) stopped the rest.
 */
function sendBatch(this: Socket, messages: any, port?: any, address?: any, callback?: any): void {
  if (!Array.isArray(messages)) throw ERR_INVALID_ARG_TYPE('messages', 'Array', messages);
  const state = this[kState];
  const connected = state.connectState === CONNECT_STATE_CONNECTED;
  const many = messages.length > 0 && messages[0] !== null && typeof messages[0] === 'object' &&
    !types.isArrayBufferView(messages[0]) && 'data' in messages[0];
  if (many || connected) {
    if (typeof port === 'function' || port === undefined) {
      callback = port;
      port = undefined;
    } else if (connected && !many) {
      throw ERR_SOCKET_DGRAM_IS_CONNECTED();
    }
  } else if (typeof address === 'function') {
    callback = address;
    address = undefined;
  }
  if (typeof callback !== 'function') callback = undefined;

  const list = new Array<Buffer>(messages.length);
  const ports = many ? new Array<number>(messages.length) : [];
  const hosts = many ? new Array<string | undefined>(messages.length) : [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const data = many ? m?.data : m;
    const buf = toBuffer(data);
    // Argument names are built only for the error: this loop runs once per datagram.
    if (buf === null) throw notBufferLike(many ? `messages[${i}].data` : `messages[${i}]`, data);
    list[i] = buf;
    if (many) {
      if (connected) throw ERR_SOCKET_DGRAM_IS_CONNECTED();
      const p = m.port;
      ports[i] = typeof p === 'number' && p > 0 && p <= 0xFFFF && p === (p | 0) ? p : validatePort(p, `messages[${i}].port`, false);
      const a = m.address;
      if (a != null && typeof a !== 'string') validateString(a, `messages[${i}].address`);
      hosts[i] = a;
    }
  }
  if (!many && !connected) {
    port = validatePort(port, 'Port', false);
    if (address != null) validateString(address, 'address');
  }
  healthCheck(this);
  if (state.bindState === BIND_STATE_UNBOUND) this.bind({ port: 0, exclusive: true }, null);
  if (state.bindState !== BIND_STATE_BOUND) {
    const args = arguments;
    enqueue(this, () => (this.sendBatch as Function).apply(this, args), (err) => batchLookupFailed(this, err, callback));
    return;
  }
  if (list.length === 0) {
    if (callback) process.nextTick(callback, null, 0);
    return;
  }
  const handle = state.handle!;
  if (connected) {
    sendBatchNow(this, list, [], [], [], callback);
  } else if (!many) {
    handle.lookup(address, (ex, ip) => {
      if (ex) return batchLookupFailed(this, ex, callback);
      sendBatchNow(this, list, [port], [ip], [address], callback);
    });
  } else {
    // One lookup per distinct host, as send() would do per datagram.
    const unique = distinct(hosts);
    const resolved = new Array<string>(unique.length);
    let pending = unique.length;
    let failed = false;
    for (let k = 0; k < unique.length; k++) {
      handle.lookup(unique[k], (ex, ip) => {
        if (failed) return;
        if (ex) {
          failed = true;
          return batchLookupFailed(this, ex, callback);
        }
        resolved[k] = ip;
        if (--pending === 0) sendBatchNow(this, list, ports, resolvedPerDatagram(hosts, unique, resolved), hosts, callback);
      });
    }
  }
}

/** Distinct hosts up to which a linear search beats a Map. */
const FEW_HOSTS = 8;

/** The distinct values of `hosts`, in order of first appearance. */
function distinct(hosts: Array<string | undefined>): Array<string | undefined> {
  const first = hosts[0];
  let i = 1;
  while (i < hosts.length && hosts[i] === first) i++;
  if (i === hosts.length) return [first];
  const out: Array<string | undefined> = [first];
  for (; i < hosts.length && out.length <= FEW_HOSTS; i++) if (!out.includes(hosts[i])) out.push(hosts[i]);
  if (i === hosts.length) return out;
  const seen = new Set(out);
  for (; i < hosts.length; i++) seen.add(hosts[i]);
  return [...seen];
}

/** Per datagram, the address its host resolved to (`resolved[k]` for `unique[k]`). */
function resolvedPerDatagram(hosts: Array<string | undefined>, unique: Array<string | undefined>, resolved: string[]): string[] {
  const ips = new Array<string>(hosts.length);
  if (unique.length === 1) {
    for (let i = 0; i < hosts.length; i++) ips[i] = resolved[0];
    return ips;
  }
  const slot = unique.length > FEW_HOSTS ? new Map(unique.map((h, k) => [h, k])) : null;
  for (let i = 0; i < hosts.length; i++) ips[i] = resolved[slot ? slot.get(hosts[i])! : unique.indexOf(hosts[i])];
  return ips;
}

function batchLookupFailed(self: Socket, ex: unknown, callback: Callback | undefined): void {
  if (callback) process.nextTick(callback, ex, 0);
  else process.nextTick(() => self.emit('error', ex));
}

function sendBatchNow(self: Socket, list: Buffer[], ports: number[], ips: string[], hosts: Array<string | undefined>, callback: Callback | undefined): void {
  const state = self[kState];
  if (!state.handle) {
    // Closed while the addresses were looked up: nothing was sent, and the callback says so.
    if (callback) process.nextTick(callback, ERR_SOCKET_DGRAM_NOT_RUNNING(), 0);
    return;
  }
  for (let i = 0; i < ips.length; i++) {
    if (isBlocked(state.sendBlockList, ips[i])) {
      if (callback) process.nextTick(callback, ERR_IP_BLOCKED(ips[i]), 0);
      return;
    }
  }
  // One destination, equal sizes but maybe the last: one GSO buffer per 64 datagrams.
  let segment = 0;
  if (ips.length <= 1 && list.length > 1) {
    const size = list[0].length;
    let equal = size > 0 && size <= MAX_UDP_PAYLOAD;
    for (let i = 1; equal && i < list.length; i++) {
      equal = i < list.length - 1 ? list[i].length === size : list[i].length <= size && list[i].length > 0;
    }
    if (equal) segment = size;
  }
  let sync = true;
  const done = (err: number, sent: number) => {
    let ex: any = null;
    if (err) {
      const k = Math.min(sent, list.length - 1);
      ex = exceptionWithHostPort(err, 'send', hosts.length > 1 ? hosts[k] : hosts[0], ports.length > 1 ? ports[k] : ports[0]);
      ex.index = sent;
    }
    if (!callback) return;
    if (sync) process.nextTick(callback, ex, sent);
    else callback(ex, sent);
  };
  state.handle.sendBatch(list, ports, ips, segment, done);
  sync = false;
}

function receiveBatches(this: Socket, handler: ((batch: DatagramBatch) => void) | null) {
  if (handler !== null) validateFunction(handler, 'handler');
  const state = this[kState];
  healthCheck(this);
  state.batchHandler = handler;
  updateBatchDelivery(this);
  return this;
}

/** Batches reach JS as batches while a handler or an iterator wants them. */
function updateBatchDelivery(self: Socket): void {
  const state = self[kState];
  if (!state.handle) return;
  const err = state.handle.setBatchDelivery(state.batchHandler !== null || state.consumers.size > 0);
  if (err) throw errnoException(err, 'receiveBatches');
}

function messages(this: Socket, options?: IteratorOptions) {
  healthCheck(this);
  const self = this;
  const state = this[kState];
  return messageIterator({
    on: (e, fn) => self.on(e, fn),
    removeListener: (e, fn) => self.removeListener(e, fn),
    consume: (fn) => {
      if (fn) state.consumers.add(fn);
      updateBatchDelivery(self);
      return () => {
        if (fn) state.consumers.delete(fn);
        updateBatchDelivery(self);
      };
    },
    setReading: (on) => {
      state.pausers += on ? -1 : 1;
      state.handle?.setReading(state.pausers === 0);
    },
    countQueueDrops: (n) => { state.queueDrops += n; },
  }, options);
}

function setGRO(this: Socket, on: boolean) {
  const state = this[kState];
  state.gro = !!on;
  const err = handleOf(this).native.setGro(!!on);
  if (err) throw errnoException(err, 'setGRO');
}

/** The TOS byte of outgoing datagrams (DSCP << 2 | ECN; `IPV6_TCLASS` on udp6). */
function setTOS(this: Socket, tos: number) {
  validateNumber(tos, 'tos');
  const err = handleOf(this).native.setTos(tos >>> 0 === tos ? tos : 256);
  if (err) throw errnoException(err, 'setTOS');
  return tos;
}

/** Adds destination, interface, tos, timestamp and truncated to every rinfo. */
function setRecvMetadata(this: Socket, on: boolean) {
  const state = this[kState];
  const err = handleOf(this).native.setRecvMetadata(!!on);
  if (err) throw errnoException(err, 'setRecvMetadata');
  state.recvMetadata = !!on;
}

/** See enableRecvErrors: ICMP errors as 'icmpError' events, off by default. */
function setRecvErrors(this: Socket, on: boolean) {
  handleOf(this);
  const err = enableRecvErrors(this, !!on);
  if (err) throw errnoException(err, 'setRecvErrors');
  this[kState].recvErrors = !!on;
}

/** Don't fragment: datagrams over the path MTU fail with EMSGSIZE instead. */
function setDontFragment(this: Socket, on: boolean) {
  const err = handleOf(this).native.setDontFragment(!!on);
  if (err) throw errnoException(err, 'setDontFragment');
  return on;
}

/** SO_BINDTODEVICE: only traffic through interface `name`; `null` undoes it. */
function bindToDevice(this: Socket, name: string | null) {
  if (name !== null) validateString(name, 'name');
  const err = handleOf(this).native.bindDevice(name);
  if (err) throw errnoException(err, 'bindToDevice');
}

function stats(this: Socket): SocketStats {
  const state = this[kState];
  const s = state.handle ? state.handle.native.stats() : state.lastStats ?? emptyStats;
  return { ...s, queueDrops: state.queueDrops };
}

/** The methods, as Socket.prototype gets them. */
export const extensionMethods = {
  sendBatch,
  receiveBatches,
  messages,
  [Symbol.asyncIterator](this: Socket) {
    return this.messages();
  },
  setGRO,
  setTOS,
  setRecvMetadata,
  setRecvErrors,
  setDontFragment,
  bindToDevice,
  stats,
};
