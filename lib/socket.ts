// The dgram Socket: state machine, argument handling and event timing as in Node's
// lib/dgram.js (the behavioural reference), over a Handle on the Rust core.

import { Buffer } from 'node:buffer';
import * as dns from 'node:dns';
import { EventEmitter } from 'node:events';
import { BlockList, isIP } from 'node:net';
import { deprecate, promisify, types } from 'node:util';

import {
  ERR_BUFFER_OUT_OF_BOUNDS,
  ERR_INVALID_ARG_TYPE,
  ERR_INVALID_FD_TYPE,
  ERR_IP_BLOCKED,
  ERR_MISSING_ARGS,
  ERR_SOCKET_ALREADY_BOUND,
  ERR_SOCKET_BAD_BUFFER_SIZE,
  ERR_SOCKET_BAD_TYPE,
  ERR_SOCKET_BUFFER_SIZE,
  ERR_SOCKET_DGRAM_IS_CONNECTED,
  ERR_SOCKET_DGRAM_NOT_CONNECTED,
  ERR_SOCKET_DGRAM_NOT_RUNNING,
  errnoException,
  exceptionWithHostPort,
} from './errors';
import { DatagramBatch, IteratorOptions, messageIterator, RemoteInfo } from './batch';
import { FLAG_IPV6_ONLY, FLAG_REUSE_ADDR, FLAG_REUSE_PORT, Handle, HandleOwner, LookupFn } from './handle';
import { NativeSocket } from './native';
import {
  isInt32,
  validateAbortSignal,
  validateFunction,
  validateNumber,
  validatePort,
  validateString,
  validateUint32,
} from './validate';

const BIND_STATE_UNBOUND = 0;
const BIND_STATE_BINDING = 1;
const BIND_STATE_BOUND = 2;

const CONNECT_STATE_DISCONNECTED = 0;
const CONNECT_STATE_CONNECTING = 1;
const CONNECT_STATE_CONNECTED = 2;

/** libuv's bind flags (uv.h), which the cluster primary passes to Node's own handle. */
const UV_UDP_IPV6ONLY = 1;
const UV_UDP_REUSEADDR = 4;

const RECV_BUFFER = true;
const SEND_BUFFER = false;

/**
 * The key of a socket's private state. Under --expose-internals (Node's own test suite)
 * it is node:dgram's key, so tests that reach into `socket[kStateSymbol]` find the state.
 */
const kState: unique symbol = internalStateSymbol() ?? (Symbol('state symbol') as any);

function internalStateSymbol(): any {
  if (!process.execArgv.includes('--expose-internals') && !process.execArgv.includes('--expose_internals')) return undefined;
  try {
    return (require('internal/dgram') as { kStateSymbol?: symbol }).kStateSymbol;
  } catch {
    return undefined;
  }
}

type BufferLike = string | NodeJS.ArrayBufferView;
type Callback = (...args: any[]) => void;

interface State {
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
  lastStats?: Omit<SocketStats, 'queueDrops'>;
  clusterHandle?: { close(...args: unknown[]): unknown; unref?(): void };
  batchHandler: ((batch: DatagramBatch) => void) | null;
  /** Async iterators reading this socket, each fed every batch. */
  consumers: Set<(batch: DatagramBatch) => void>;
  /** How many of them are full: reading pauses while any is. */
  pausers: number;
  queueDrops: number;
}

interface ClusterWorkerApi {
  isWorker: boolean;
  _getServer(owner: unknown, options: object, cb: (err: number, handle: any) => void): void;
}
let cluster: ClusterWorkerApi | undefined;
function isClusterWorker(): boolean {
  cluster ??= require('node:cluster') as ClusterWorkerApi;
  return cluster.isWorker;
}

/**
 * Asks the cluster primary for the shared socket, as node:dgram does, and adopts a
 * duplicate of its descriptor: every worker then reads the one socket the primary holds.
 */
function bindServerHandle(self: Socket, options: object, errCb: (err: number) => void): void {
  const state = self[kState];
  cluster!._getServer(self, options, (err, handle) => {
    if (err) {
      if (state.handle) errCb(err);
      return;
    }
    if (!state.handle) {
      handle.close();
      return;
    }
    const fd = handle.fd;
    const r = typeof fd === 'number' && fd >= 0 ? state.handle.openDup(fd) : -9;
    if (r) {
      handle.close();
      errCb(r);
      return;
    }
    // Closing the primary's handle tells the primary this worker is done with the port,
    // so it stays open (idle and unref'd: udpx reads its own duplicate, whose poll holds the
    // loop) until this socket closes. When the cluster closes it (worker.disconnect()), the
    // socket closes too, as node:dgram's does.
    handle.unref?.();
    const close = handle.close;
    handle.close = function(this: unknown, ...args: unknown[]) {
      handle.close = close;
      if (state.clusterHandle === handle) {
        state.clusterHandle = undefined;
        if (state.handle) self.close();
      }
      return close.apply(this, args);
    };
    state.clusterHandle = handle;
    startListening(self);
  });
}

function newHandle(type: unknown, lookup: unknown): Handle {
  if (lookup === undefined) {
    lookup = dns.lookup;
  } else {
    validateFunction(lookup, 'lookup');
  }
  if (type === 'udp4') return new Handle(false, lookup as LookupFn);
  if (type === 'udp6') return new Handle(true, lookup as LookupFn);
  throw ERR_SOCKET_BAD_TYPE();
}

function checkBlockList(list: unknown, name: string): BlockList | undefined {
  if (!list) return undefined;
  if (!(list instanceof BlockList)) throw ERR_INVALID_ARG_TYPE(name, 'net.BlockList', list);
  return list;
}

function isBlocked(list: BlockList | undefined, ip: string): boolean {
  if (!list) return false;
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

export class Socket extends EventEmitter implements HandleOwner {
  type: string;
  [kState]: State;

  constructor(type: any, listener?: Callback) {
    super();
    let lookup;
    let recvBufferSize;
    let sendBufferSize;
    let receiveBlockList;
    let sendBlockList;
    let options: any;
    if (type !== null && typeof type === 'object') {
      options = type;
      type = options.type;
      lookup = options.lookup;
      if (options.recvBufferSize) validateUint32(options.recvBufferSize, 'options.recvBufferSize');
      if (options.sendBufferSize) validateUint32(options.sendBufferSize, 'options.sendBufferSize');
      recvBufferSize = options.recvBufferSize;
      sendBufferSize = options.sendBufferSize;
      receiveBlockList = checkBlockList(options.receiveBlockList, 'options.receiveBlockList');
      sendBlockList = checkBlockList(options.sendBlockList, 'options.sendBlockList');
    }

    const handle = newHandle(type, lookup);
    handle.owner = this;
    this.type = type;

    if (typeof listener === 'function') this.on('message', listener);

    this[kState] = {
      handle,
      receiving: false,
      bindState: BIND_STATE_UNBOUND,
      connectState: CONNECT_STATE_DISCONNECTED,
      queue: undefined,
      reuseAddr: options && options.reuseAddr,
      reusePort: options && options.reusePort,
      ipv6Only: options && options.ipv6Only,
      recvBufferSize,
      sendBufferSize,
      receiveBlockList,
      sendBlockList,
      gro: !!(options && options.gro),
      recvMetadata: !!(options && options.recvMetadata),
      batchHandler: null,
      consumers: new Set(),
      pausers: 0,
      queueDrops: 0,
    };

    if (options?.signal !== undefined) {
      const { signal } = options;
      validateAbortSignal(signal, 'options.signal');
      const onAborted = () => {
        if (this[kState].handle) this.close();
      };
      if (signal.aborted) {
        onAborted();
      } else {
        signal.addEventListener('abort', onAborted, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAborted));
      }
    }
  }

  // HandleOwner: called by the handle from the event loop.
  onMessage(buf: Buffer, address: string, port: number, metadata?: object): void {
    const family = address.includes(':') ? 'IPv6' : 'IPv4';
    const list = this[kState].receiveBlockList;
    if (list && list.check(address, family === 'IPv6' ? 'ipv6' : 'ipv4')) return;
    const rinfo = { address, family, port, size: buf.length };
    this.emit('message', buf, metadata ? Object.assign(rinfo, metadata) : rinfo);
  }

  onBatch(buf: Buffer, meta: Uint32Array, addresses: string[], metadata?: object[]): void {
    const state = this[kState];
    let index: number[] | null = null;
    const blocked = state.receiveBlockList;
    if (blocked) {
      index = [];
      for (let i = 0, n = meta.length / 4; i < n; i++) {
        const a = addresses[meta[i * 4 + 3]];
        if (!blocked.check(a, a.includes(':') ? 'ipv6' : 'ipv4')) index.push(i);
      }
      if (index.length === 0) return;
    }
    const batch = new DatagramBatch(buf, meta, addresses, index, metadata);
    state.batchHandler?.(batch);
    for (const consume of state.consumers) consume(batch);
    if (this.listenerCount('message') > 0) {
      for (let i = 0; i < batch.length && this[kState].handle; i++) this.emit('message', batch.data(i), batch.rinfo(i));
    }
  }

  onRecvError(err: number): void {
    this.emit('error', errnoException(err, 'recvmsg'));
  }

  onDrain(): void {
    this.emit('drain');
  }

  bind(port_?: any, address_?: any, ..._rest: any[]): this {
    let port = port_;
    healthCheck(this);
    const state = this[kState];
    if (state.bindState !== BIND_STATE_UNBOUND) throw ERR_SOCKET_ALREADY_BOUND();
    state.bindState = BIND_STATE_BINDING;

    const cb = arguments.length && arguments[arguments.length - 1];
    if (typeof cb === 'function') {
      const removeListeners = function(this: Socket) {
        this.removeListener('error', removeListeners);
        this.removeListener('listening', onListening);
      };
      const onListening = function(this: Socket) {
        removeListeners.call(this);
        cb.call(this);
      };
      this.on('error', removeListeners);
      this.on('listening', onListening);
    }

    // node:dgram first asks whether it was handed a UDP handle (cluster internals); udpx
    // takes none, but reads the property in the same order.
    if (port !== null && typeof port === 'object') void port.recvStart;

    // Adopt an existing descriptor instead of creating one.
    if (port !== null && typeof port === 'object' && isInt32(port.fd) && port.fd > 0) {
      const fd = port.fd;
      const exclusive = !!port.exclusive;
      if (isClusterWorker() && !exclusive) {
        bindServerHandle(this, { address: null, port: null, addressType: this.type, fd, flags: null }, (err) => {
          state.bindState = BIND_STATE_UNBOUND;
          this.emit('error', errnoException(err, 'open'));
        });
        return this;
      }
      const type = NativeSocket.handleType(fd);
      if (type !== 'UDP') throw ERR_INVALID_FD_TYPE(type);
      const err = state.handle!.open(fd);
      if (err) throw errnoException(err, 'open');
      startListening(this);
      return this;
    }

    let address: any;
    let exclusive: boolean;
    if (port !== null && typeof port === 'object') {
      address = port.address || '';
      exclusive = !!port.exclusive;
      port = port.port;
    } else {
      address = typeof address_ === 'function' ? '' : address_;
      exclusive = false;
    }

    if (!address) address = this.type === 'udp4' ? '0.0.0.0' : '::';

    state.handle!.lookup(address, (err, ip) => {
      if (!state.handle) return; // closed in the meantime
      if (err) {
        state.bindState = BIND_STATE_UNBOUND;
        this.emit('error', err);
        return;
      }
      let flags = 0;
      if (state.reuseAddr) flags |= FLAG_REUSE_ADDR;
      if (state.ipv6Only) flags |= FLAG_IPV6_ONLY;
      if (state.reusePort) flags |= FLAG_REUSE_PORT;
      if (!exclusive && !state.reusePort && isClusterWorker()) {
        // As node:dgram: the primary owns the socket; every worker reads it.
        // The primary binds with libuv's flag values (uv.h).
        let uvFlags = 0;
        if (state.reuseAddr) uvFlags |= UV_UDP_REUSEADDR;
        if (state.ipv6Only) uvFlags |= UV_UDP_IPV6ONLY;
        bindServerHandle(this, { address: ip, port, addressType: this.type, fd: -1, flags: uvFlags }, (err) => {
          state.bindState = BIND_STATE_UNBOUND;
          this.emit('error', exceptionWithHostPort(err, 'bind', ip, port));
        });
        return;
      }
      // The C++ handle reads the port with ToNumber/ToUint32; libuv keeps 16 bits.
      const err2 = state.handle.bind(ip, (+(port || 0) >>> 0) & 0xffff, flags);
      if (err2) {
        const ex = exceptionWithHostPort(err2, 'bind', ip, port);
        state.bindState = BIND_STATE_UNBOUND;
        this.emit('error', ex);
        return;
      }
      startListening(this);
    });
    return this;
  }

  connect(port: any, address?: any, callback?: any): void {
    port = validatePort(port, 'Port', false);
    if (typeof address === 'function') {
      callback = address;
      address = '';
    } else if (address === undefined) {
      address = '';
    }
    validateString(address, 'address');

    const state = this[kState];
    if (state.connectState !== CONNECT_STATE_DISCONNECTED) throw ERR_SOCKET_DGRAM_IS_CONNECTED();
    state.connectState = CONNECT_STATE_CONNECTING;
    if (state.bindState === BIND_STATE_UNBOUND) this.bind({ port: 0, exclusive: true }, null);

    if (state.bindState !== BIND_STATE_BOUND) {
      enqueue(this, connectNow.bind(this, port, address, callback));
      return;
    }
    connectNow.call(this, port, address, callback);
  }

  disconnect(): void {
    const state = this[kState];
    if (state.connectState !== CONNECT_STATE_CONNECTED) throw ERR_SOCKET_DGRAM_NOT_CONNECTED();
    const err = handleOf(this).disconnect();
    if (err) throw errnoException(err, 'connect');
    state.connectState = CONNECT_STATE_DISCONNECTED;
  }

  sendto(buffer: any, offset: any, length: any, port: any, address: any, callback?: any): void {
    validateNumber(offset, 'offset');
    validateNumber(length, 'length');
    validateNumber(port, 'port');
    validateString(address, 'address');
    this.send(buffer, offset, length, port, address, callback);
  }

  // Call forms, unconnected:
  //   send(buffer, offset, length, port[, address][, callback])
  //   send(bufferOrList, port[, address][, callback])
  // connected:
  //   send(buffer, offset, length[, callback])
  //   send(bufferOrList[, callback])
  send(buffer: any, offset?: any, length?: any, port?: any, address?: any, callback?: any): void {
    let list: Buffer[] | null;
    const state = this[kState];
    const connected = state.connectState === CONNECT_STATE_CONNECTED;
    if (!connected) {
      if (address || (port && typeof port !== 'function')) {
        buffer = sliceBuffer(buffer, offset, length);
      } else {
        callback = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === 'number') {
        buffer = sliceBuffer(buffer, offset, length);
        if (typeof port === 'function') {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
      }
      if (port || address) throw ERR_SOCKET_DGRAM_IS_CONNECTED();
    }

    if (!Array.isArray(buffer)) {
      if (typeof buffer === 'string') {
        list = [Buffer.from(buffer)];
      } else if (!types.isArrayBufferView(buffer)) {
        throw ERR_INVALID_ARG_TYPE('buffer', ['Buffer', 'TypedArray', 'DataView', 'string'], buffer);
      } else {
        list = [buffer as Buffer];
      }
    } else if (!(list = fixBufferList(buffer))) {
      throw ERR_INVALID_ARG_TYPE('buffer list arguments', ['Buffer', 'TypedArray', 'DataView', 'string'], buffer);
    }

    if (!connected) port = validatePort(port, 'Port', false);

    if (typeof callback !== 'function') callback = undefined;

    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    } else if (address != null) {
      validateString(address, 'address');
    }

    healthCheck(this);

    if (state.bindState === BIND_STATE_UNBOUND) this.bind({ port: 0, exclusive: true }, null);

    if (list.length === 0) list.push(Buffer.alloc(0));

    if (state.bindState !== BIND_STATE_BOUND) {
      enqueue(this, this.send.bind(this, list, port, address, callback));
      return;
    }

    const afterDns = (ex: any, ip: string | null) => doSend(ex, this, ip, list!, address, port, callback);
    if (!connected) state.handle!.lookup(address, afterDns);
    else afterDns(null, null);
  }

  close(callback?: Callback): this {
    const state = this[kState];
    const queue = state.queue;
    if (typeof callback === 'function') this.on('close', callback);
    if (queue !== undefined) {
      queue.push(this.close.bind(this));
      return this;
    }
    healthCheck(this);
    stopReceiving(this);
    state.lastStats = state.handle!.native.stats();
    state.handle!.close();
    const clusterHandle = state.clusterHandle;
    state.clusterHandle = undefined;
    clusterHandle?.close();
    state.handle = null;
    process.nextTick(socketCloseNT, this);
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this[kState].handle) return;
    return promisify(this.close).call(this) as Promise<any>;
  }

  address(): { address: string; family: string; port: number } {
    healthCheck(this);
    const out = handleOf(this).getsockname();
    if (typeof out === 'number') throw errnoException(out, 'getsockname');
    return out;
  }

  remoteAddress(): { address: string; family: string; port: number } {
    healthCheck(this);
    const state = this[kState];
    if (state.connectState !== CONNECT_STATE_CONNECTED) throw ERR_SOCKET_DGRAM_NOT_CONNECTED();
    const out = handleOf(this).getpeername();
    if (typeof out === 'number') throw errnoException(out, 'getpeername');
    return out;
  }

  setBroadcast(arg: boolean): void {
    const err = handleOf(this).setBroadcast(!!arg);
    if (err) throw errnoException(err, 'setBroadcast');
  }

  setTTL(ttl: number): number {
    validateNumber(ttl, 'ttl');
    const err = handleOf(this).setTTL(ttl);
    if (err) throw errnoException(err, 'setTTL');
    return ttl;
  }

  setMulticastTTL(ttl: number): number {
    validateNumber(ttl, 'ttl');
    const err = handleOf(this).setMulticastTTL(ttl);
    if (err) throw errnoException(err, 'setMulticastTTL');
    return ttl;
  }

  setMulticastLoopback(arg: boolean): boolean {
    const err = handleOf(this).setMulticastLoopback(!!arg);
    if (err) throw errnoException(err, 'setMulticastLoopback');
    return arg;
  }

  setMulticastInterface(interfaceAddress: string): void {
    healthCheck(this);
    validateString(interfaceAddress, 'interfaceAddress');
    const err = handleOf(this).setMulticastInterface(interfaceAddress);
    if (err) throw errnoException(err, 'setMulticastInterface');
  }

  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    healthCheck(this);
    if (!multicastAddress) throw ERR_MISSING_ARGS('multicastAddress');
    const err = handleOf(this).addMembership(multicastAddress, interfaceAddress);
    if (err) throw errnoException(err, 'addMembership');
  }

  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    healthCheck(this);
    if (!multicastAddress) throw ERR_MISSING_ARGS('multicastAddress');
    const err = handleOf(this).dropMembership(multicastAddress, interfaceAddress);
    if (err) throw errnoException(err, 'dropMembership');
  }

  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    healthCheck(this);
    validateString(sourceAddress, 'sourceAddress');
    validateString(groupAddress, 'groupAddress');
    const err = handleOf(this).addSourceSpecificMembership(sourceAddress, groupAddress, interfaceAddress);
    if (err) throw errnoException(err, 'addSourceSpecificMembership');
  }

  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    healthCheck(this);
    validateString(sourceAddress, 'sourceAddress');
    validateString(groupAddress, 'groupAddress');
    const err = handleOf(this).dropSourceSpecificMembership(sourceAddress, groupAddress, interfaceAddress);
    if (err) throw errnoException(err, 'dropSourceSpecificMembership');
  }

  ref(): this {
    const handle = this[kState].handle;
    if (handle) handle.ref();
    return this;
  }

  unref(): this {
    const handle = this[kState].handle;
    if (handle) handle.unref();
    return this;
  }

  setRecvBufferSize(size: number): void {
    bufferSize(this, size, RECV_BUFFER);
  }

  setSendBufferSize(size: number): void {
    bufferSize(this, size, SEND_BUFFER);
  }

  getRecvBufferSize(): number {
    return bufferSize(this, 0, RECV_BUFFER);
  }

  getSendBufferSize(): number {
    return bufferSize(this, 0, SEND_BUFFER);
  }

  getSendQueueSize(): number {
    return handleOf(this).getSendQueueSize();
  }

  getSendQueueCount(): number {
    return handleOf(this).getSendQueueCount();
  }
}

export interface SocketStats {
  datagramsReceived: number;
  bytesReceived: number;
  datagramsSent: number;
  bytesSent: number;
  /** Dropped by the kernel: the receive buffer was full (SO_RXQ_OVFL). */
  kernelDrops: number;
  /** Dropped by udpx: an iterator's buffer was full. */
  queueDrops: number;
}

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
  setDontFragment(on: boolean): boolean;
  bindToDevice(name: string | null): void;
  stats(): SocketStats;
}

// The extensions live on the prototype, so node:dgram's own members stay as they are.
export interface Socket extends SocketExtensions {}

/**
 * Sends many datagrams with one system call per 64: `sendBatch(messages, port, address,
 * cb)` to one destination (UDP GSO when all but the last have one size), `sendBatch([{
 * data, port, address }], cb)` to many, `sendBatch(messages, cb)` on a connected socket.
 * `cb(err, sent)`: `sent` datagrams went out in order; `err` (with `index`) stopped the rest.
 */
Socket.prototype.sendBatch = function(this: Socket, messages: any, port?: any, address?: any, callback?: any): void {
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
    if (typeof data === 'string') list[i] = Buffer.from(data);
    else if (Buffer.isBuffer(data)) list[i] = data;
    else if (types.isArrayBufferView(data)) list[i] = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else throw ERR_INVALID_ARG_TYPE(many ? `messages[${i}].data` : `messages[${i}]`, ['Buffer', 'TypedArray', 'DataView', 'string'], data);
    if (many) {
      if (connected) throw ERR_SOCKET_DGRAM_IS_CONNECTED();
      // Argument names are built only for the error: this loop runs once per datagram.
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
    enqueue(this, () => (this.sendBatch as Function).apply(this, args));
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
    const unique = [...new Set(hosts)];
    const resolved = new Map<string | undefined, string>();
    let pending = unique.length;
    let failed = false;
    for (const host of unique) {
      handle.lookup(host, (ex, ip) => {
        if (failed) return;
        if (ex) {
          failed = true;
          return batchLookupFailed(this, ex, callback);
        }
        resolved.set(host, ip);
        if (--pending === 0) sendBatchNow(this, list, ports, hosts.map((h) => resolved.get(h)!), hosts, callback);
      });
    }
  }
};

/** The largest IPv4 UDP payload; bigger datagrams go the plain way and fail EMSGSIZE. */
const MAX_UDP_PAYLOAD = 65507;

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

Socket.prototype.receiveBatches = function(this: Socket, handler: ((batch: DatagramBatch) => void) | null) {
  if (handler !== null) validateFunction(handler, 'handler');
  const state = this[kState];
  healthCheck(this);
  state.batchHandler = handler;
  updateBatchDelivery(this);
  return this;
};

/** Batches reach JS as batches while a handler or an iterator wants them. */
function updateBatchDelivery(self: Socket): void {
  const state = self[kState];
  if (!state.handle) return;
  const err = state.handle.setBatchDelivery(state.batchHandler !== null || state.consumers.size > 0);
  if (err) throw errnoException(err, 'receiveBatches');
}

Socket.prototype.messages = function(this: Socket, options?: IteratorOptions) {
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
};

Socket.prototype[Symbol.asyncIterator] = function(this: Socket) {
  return this.messages();
};

Socket.prototype.setGRO = function(this: Socket, on: boolean) {
  const state = this[kState];
  state.gro = !!on;
  const err = handleOf(this).native.setGro(!!on);
  if (err) throw errnoException(err, 'setGRO');
};

/** The TOS byte of outgoing datagrams (DSCP << 2 | ECN; `IPV6_TCLASS` on udp6). */
Socket.prototype.setTOS = function(this: Socket, tos: number) {
  validateNumber(tos, 'tos');
  const err = handleOf(this).native.setTos(tos >>> 0 === tos ? tos : 256);
  if (err) throw errnoException(err, 'setTOS');
  return tos;
};

/** Adds destination, interface, tos, timestamp and truncated to every rinfo. */
Socket.prototype.setRecvMetadata = function(this: Socket, on: boolean) {
  const state = this[kState];
  const err = handleOf(this).native.setRecvMetadata(!!on);
  if (err) throw errnoException(err, 'setRecvMetadata');
  state.recvMetadata = !!on;
};

/** Don't fragment: datagrams over the path MTU fail with EMSGSIZE instead. */
Socket.prototype.setDontFragment = function(this: Socket, on: boolean) {
  const err = handleOf(this).native.setDontFragment(!!on);
  if (err) throw errnoException(err, 'setDontFragment');
  return on;
};

/** SO_BINDTODEVICE: only traffic through interface `name`; `null` undoes it. */
Socket.prototype.bindToDevice = function(this: Socket, name: string | null) {
  if (name !== null) validateString(name, 'name');
  const err = handleOf(this).native.bindDevice(name);
  if (err) throw errnoException(err, 'bindToDevice');
};

Socket.prototype.stats = function(this: Socket): SocketStats {
  const state = this[kState];
  const s = state.handle ? state.handle.native.stats() : state.lastStats ?? emptyStats;
  return { ...s, queueDrops: state.queueDrops };
};

const emptyStats = { datagramsReceived: 0, bytesReceived: 0, datagramsSent: 0, bytesSent: 0, kernelDrops: 0 };

/** The handle, as Node's methods reach `state.handle` (null, so a TypeError, once closed). */
function handleOf(socket: Socket): Handle {
  return socket[kState].handle as Handle;
}

function healthCheck(socket: Socket): void {
  if (!socket[kState].handle) throw ERR_SOCKET_DGRAM_NOT_RUNNING();
}

function stopReceiving(socket: Socket): void {
  const state = socket[kState];
  if (!state.receiving) return;
  // As the handle's recvStop(): no more reads, and the socket no longer holds the loop.
  state.handle?.native.setReading(false);
  state.receiving = false;
}

function startListening(socket: Socket): void {
  const state = socket[kState];
  const err = state.handle!.recvStart();
  if (err) {
    // The descriptor exists and is bound; a poll that cannot start is an OS failure.
    process.nextTick(() => socket.emit('error', errnoException(err, 'recvStart')));
  }
  state.receiving = true;
  state.bindState = BIND_STATE_BOUND;
  if (state.gro) state.handle!.native.setGro(true);
  if (state.recvMetadata) state.handle!.native.setRecvMetadata(true);
  if (state.recvBufferSize) bufferSize(socket, state.recvBufferSize, RECV_BUFFER);
  if (state.sendBufferSize) bufferSize(socket, state.sendBufferSize, SEND_BUFFER);
  socket.emit('listening');
}

function bufferSize(self: Socket, size: number, recv: boolean): number {
  if (size >>> 0 !== size) throw ERR_SOCKET_BAD_BUFFER_SIZE();
  const ret = handleOf(self).bufferSize(size, recv);
  if (ret < 0) throw ERR_SOCKET_BUFFER_SIZE(ret, recv);
  return ret;
}

function connectNow(this: Socket, port: number, address: string, callback: Callback | undefined): void {
  const state = this[kState];
  if (callback) this.once('connect', callback);
  state.handle!.lookup(address, (ex, ip) => doConnect(ex, this, ip, address, port, callback));
}

function doConnect(ex: any, self: Socket, ip: string, address: string, port: number, callback: Callback | undefined): void {
  const state = self[kState];
  if (!state.handle) return;
  if (!ex && isBlocked(state.sendBlockList, ip)) ex = ERR_IP_BLOCKED(ip);
  if (!ex) {
    const err = state.handle.connect(ip, port);
    if (err) ex = exceptionWithHostPort(err, 'connect', address, port);
  }
  if (ex) {
    state.connectState = CONNECT_STATE_DISCONNECTED;
    process.nextTick(() => {
      if (callback) {
        self.removeListener('connect', callback);
        callback(ex);
      } else {
        self.emit('error', ex);
      }
    });
    return;
  }
  state.connectState = CONNECT_STATE_CONNECTED;
  process.nextTick(() => self.emit('connect'));
}

function sliceBuffer(buffer: any, offset: any, length: any): Buffer {
  if (typeof buffer === 'string') {
    buffer = Buffer.from(buffer);
  } else if (!types.isArrayBufferView(buffer)) {
    throw ERR_INVALID_ARG_TYPE('buffer', ['Buffer', 'TypedArray', 'DataView', 'string'], buffer);
  }
  offset = offset >>> 0;
  length = length >>> 0;
  if (offset > buffer.byteLength) throw ERR_BUFFER_OUT_OF_BOUNDS('offset');
  if (offset + length > buffer.byteLength) throw ERR_BUFFER_OUT_OF_BOUNDS('length');
  return Buffer.from(buffer.buffer, buffer.byteOffset + offset, length);
}

function fixBufferList(list: BufferLike[]): Buffer[] | null {
  const out = new Array<Buffer>(list.length);
  for (let i = 0, l = list.length; i < l; i++) {
    const buf = list[i];
    if (typeof buf === 'string') out[i] = Buffer.from(buf);
    else if (!types.isArrayBufferView(buf)) return null;
    else out[i] = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return out;
}

function enqueue(self: Socket, toEnqueue: () => void): void {
  const state = self[kState];
  if (state.queue === undefined) {
    state.queue = [];
    self.once(EventEmitter.errorMonitor, onListenError);
    self.once('listening', onListenSuccess);
  }
  state.queue.push(toEnqueue);
}

function onListenSuccess(this: Socket): void {
  this.removeListener(EventEmitter.errorMonitor, onListenError);
  clearQueue.call(this);
}

function onListenError(this: Socket): void {
  this.removeListener('listening', onListenSuccess);
  this[kState].queue = undefined;
}

function clearQueue(this: Socket): void {
  const state = this[kState];
  const queue = state.queue!;
  state.queue = undefined;
  for (const entry of queue) entry();
}

function doSend(ex: any, self: Socket, ip: string | null, list: Buffer[], address: any, port: number, callback: Callback | undefined): void {
  const state = self[kState];
  if (ex) {
    if (typeof callback === 'function') {
      process.nextTick(callback, ex);
      return;
    }
    process.nextTick(() => self.emit('error', ex));
    return;
  } else if (!state.handle) {
    return;
  }

  if (ip && isBlocked(state.sendBlockList, ip)) {
    if (callback) process.nextTick(callback, ERR_IP_BLOCKED(ip));
    return;
  }

  const done = callback && ((err: number, sent: number) => {
    callback(err ? exceptionWithHostPort(err, 'send', address, port) : null, sent);
  });
  const err = state.handle.send(list, port, port ? ip : null, done);
  if (err >= 1) {
    // Synchronous finish: bytes + 1, so that 0 bytes is told apart from "queued".
    if (callback) process.nextTick(callback, null, err - 1);
    return;
  }
  if (err && callback) {
    // Not emitted as 'error': the callback gets it (dgram_legacy.js compatibility).
    process.nextTick(callback, exceptionWithHostPort(err, 'send', address, port));
  }
}

function socketCloseNT(self: Socket): void {
  self.emit('close');
}

// Deprecated private APIs that node:dgram still carries (DEP0112).
const privateState: Array<[string, keyof State]> = [
  ['_handle', 'handle'],
  ['_receiving', 'receiving'],
  ['_bindState', 'bindState'],
  ['_queue', 'queue'],
  ['_reuseAddr', 'reuseAddr'],
];
for (const [prop, key] of privateState) {
  Object.defineProperty(Socket.prototype, prop, {
    get: deprecate(function(this: Socket) {
      return this[kState][key];
    }, `Socket.prototype.${prop} is deprecated`, 'DEP0112'),
    set: deprecate(function(this: Socket, val: any) {
      (this[kState] as any)[key] = val;
    }, `Socket.prototype.${prop} is deprecated`, 'DEP0112'),
  });
}
(Socket.prototype as any)._healthCheck = deprecate(function(this: Socket) {
  healthCheck(this);
}, 'Socket.prototype._healthCheck() is deprecated', 'DEP0112');
(Socket.prototype as any)._stopReceiving = deprecate(function(this: Socket) {
  stopReceiving(this);
}, 'Socket.prototype._stopReceiving() is deprecated', 'DEP0112');

// A udpx socket is also an instance of node:dgram's Socket (its prototype sits between
// ours and EventEmitter's, every method of it overridden here), so that code checking
// `socket instanceof dgram.Socket` accepts it.
Object.setPrototypeOf(Socket.prototype, (require('node:dgram') as { Socket: Function }).Socket.prototype);

export function createSocket(type: any, listener?: Callback): Socket {
  return new Socket(type, listener);
}
