// The dgram Socket: state machine, argument handling and event timing as in Node's
// lib/dgram.js (the behavioural reference), over a Handle on the Rust core.

import { Buffer } from 'node:buffer';
import * as dns from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { promisify } from 'node:util';

import { DatagramBatch } from './batch';
import { checkBlockList, isBlocked } from './blocklist';
import { bindArgs, bindCallback, bindsFd, Callback, sendArgs } from './call-forms';
import { flushPending, PendingSend, UNSENT } from './coalesce';
import { bindServerHandle, isClusterWorker, releaseServerHandle, uvBindFlags } from './cluster';
import {
  ERR_INVALID_ARG_VALUE,
  ERR_INVALID_FD_TYPE,
  ERR_IP_BLOCKED,
  ERR_SOCKET_ALREADY_BOUND,
  ERR_SOCKET_BAD_BUFFER_SIZE,
  ERR_SOCKET_BAD_TYPE,
  ERR_SOCKET_BUFFER_SIZE,
  ERR_SOCKET_DGRAM_IS_CONNECTED,
  ERR_SOCKET_DGRAM_NOT_CONNECTED,
  ERR_MISSING_ARGS,
  errnoException,
  exceptionWithHostPort,
} from './errors';
import { enableRecvErrors, extensionMethods, SocketExtensions } from './extensions';
import { FLAG_IPV6_ONLY, FLAG_REUSE_ADDR, FLAG_REUSE_PORT, Handle, HandleOwner, LookupFn } from './handle';
import { installLegacy, linkToDgramSocket } from './legacy';
import { NativeSocket } from './native';
import { versions } from './versions';
import {
  BIND_STATE_BINDING,
  BIND_STATE_BOUND,
  BIND_STATE_UNBOUND,
  CONNECT_STATE_CONNECTED,
  CONNECT_STATE_CONNECTING,
  CONNECT_STATE_DISCONNECTED,
  enqueue,
  handleOf,
  queued,
  healthCheck,
  kState,
  State,
} from './state';
import {
  validateAbortSignal,
  validateFunction,
  validateNumber,
  validateObject,
  validatePort,
  validateString,
  validateUint32,
} from './validate';

export type { BatchCallback, BatchMessage, SocketExtensions } from './extensions';
export type { SocketStats } from './state';

const RECV_BUFFER = true;
const SEND_BUFFER = false;

/** What bind()'s callback watches to unhook itself (see versions.bindErrorsNotSwallowed). */
const BIND_ERROR_EVENT: string | symbol = versions.bindErrorsNotSwallowed ? EventEmitter.errorMonitor : 'error';

/**
 * The multicast group and interface for the handle, converted with ToString as the C++ handle
 * does (measured on the binaries, see versions.membershipGroupToStringDeferred). When the
 * group's conversion throws:
 * - before that change, the interface is converted too: its exception propagates if it
 *   throws, else the group's;
 * - from it, a string interface leaves the group's exception to propagate; any other
 *   interface is converted (undefined and null too), which drops the group's exception: that
 *   conversion's own exception propagates, or the call goes on with '' as the group (the
 *   handle refuses it with EINVAL).
 */
const membershipArgs: (group: unknown, iface: unknown) => [unknown, unknown] = versions.membershipGroupToStringDeferred
  ? (group, iface) => {
    try {
      return [`${group}`, iface];
    } catch (err) {
      if (typeof iface === 'string') throw err;
      const converted = `${iface as string}`;
      return ['', iface === undefined || iface === null ? iface : converted];
    }
  }
  : (group, iface) => {
    try {
      return [`${group}`, iface];
    } catch (err) {
      void `${iface as string}`;
      throw err;
    }
  };

/**
 * The lookup a socket uses when given none: dns.lookup as it is at creation, or (see
 * versions.defaultLookupSkipsLiterals) one that answers an IP literal of the socket's
 * family itself and reads dns.lookup at each call.
 */
const defaultLookup: () => LookupFn = versions.defaultLookupSkipsLiterals
  ? () => skipLiteralLookup
  : () => dns.lookup as unknown as LookupFn;

// The last literal seen, so that sending to one address does not parse it every time.
let lastLiteral: unknown;
let lastLiteralFamily = 0;

function skipLiteralLookup(address: any, family: any, callback: (err: any, address: string, family?: number) => void): void {
  let fam: number;
  if (address === lastLiteral) {
    fam = lastLiteralFamily;
  } else {
    fam = isIP(address);
    if (fam !== 0) {
      lastLiteral = address;
      lastLiteralFamily = fam;
    }
  }
  if (fam === family) {
    process.nextTick(callback, null, address, family);
    return;
  }
  return (dns.lookup as any)(address, family, callback);
}

function newHandle(type: unknown, lookup: unknown): Handle {
  if (lookup === undefined) {
    lookup = defaultLookup();
  } else {
    validateFunction(lookup, 'lookup');
  }
  if (type === 'udp4') return new Handle(false, lookup as LookupFn);
  if (type === 'udp6') return new Handle(true, lookup as LookupFn);
  throw ERR_SOCKET_BAD_TYPE();
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
      recvErrors: !!(options && (options as { recvErrors?: boolean }).recvErrors),
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
  onMessage(buf: Buffer, address: string, family: 'IPv4' | 'IPv6', port: number, metadata?: object): void {
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
    if (state.consumers.size > 0) for (const consume of state.consumers) consume(batch);
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

    const cb = bindCallback(arguments);
    if (cb) {
      const removeListeners = function(this: Socket) {
        this.removeListener(BIND_ERROR_EVENT, removeListeners);
        this.removeListener('listening', onListening);
      };
      const onListening = function(this: Socket) {
        removeListeners.call(this);
        cb.call(this);
      };
      this.on(BIND_ERROR_EVENT, removeListeners);
      this.on('listening', onListening);
    }

    // Adopt an existing descriptor instead of creating one.
    if (bindsFd(port)) {
      const fd = port.fd;
      const exclusive = !!port.exclusive;
      if (isClusterWorker() && !exclusive) {
        bindServerHandle(this, { address: null, port: null, addressType: this.type, fd, flags: null }, (err) => {
          state.bindState = BIND_STATE_UNBOUND;
          this.emit('error', errnoException(err, 'open'));
        }, () => startListening(this));
        return this;
      }
      const type = NativeSocket.handleType(fd);
      if (type !== 'UDP') throw ERR_INVALID_FD_TYPE(type);
      const err = state.handle!.open(fd);
      if (err) throw errnoException(err, 'open');
      startListening(this);
      return this;
    }

    const args = bindArgs(port_, address_, this.type);
    const { address, exclusive } = args;
    port = args.port;

    state.handle!.lookup(address, (err, ip) => {
      if (!state.handle) return; // closed in the meantime
      if (err) {
        state.bindState = BIND_STATE_UNBOUND;
        this.emit('error', err);
        return;
      }
      const flags = bindFlags(state);
      if (!exclusive && !state.reusePort && isClusterWorker()) {
        // As node:dgram: the primary owns the socket; every worker reads it.
        bindServerHandle(this, { address: ip, port, addressType: this.type, fd: -1, flags: uvBindFlags(state) }, (err) => {
          state.bindState = BIND_STATE_UNBOUND;
          this.emit('error', exceptionWithHostPort(err, 'bind', ip, port));
        }, () => startListening(this));
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
      enqueue(this, connectNow.bind(this, port, address, callback), (err) => connectFailed(this, err, callback));
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

  // The call forms are listed in call-forms.ts.
  send(buffer: any, offset?: any, length?: any, port_?: any, address_?: any, callback_?: any): void {
    const state = this[kState];
    const connected = state.connectState === CONNECT_STATE_CONNECTED;
    const { list, port, address, callback } = sendArgs(connected, buffer, offset, length, port_, address_, callback_);

    healthCheck(this);

    if (state.bindState === BIND_STATE_UNBOUND) this.bind({ port: 0, exclusive: true }, null);

    if (list.length === 0) list.push(Buffer.alloc(0));

    if (state.bindState !== BIND_STATE_BOUND) {
      enqueue(this, this.send.bind(this, list, port, address, callback), (err) => sendFailed(this, err, callback));
      return;
    }

    if (connected) {
      doSend(null, this, null, list, address, port, callback);
      return;
    }
    const handle = state.handle!;
    const literal = handle.literalOf(address);
    // The lookup's own tick, without its closure.
    if (literal !== null) process.nextTick(doSend, null, this, literal, list, address, port, callback);
    else handle.lookup(address, (ex, ip) => doSend(ex, this, ip, list, address, port, callback));
  }

  close(callback?: Callback): this {
    const state = this[kState];
    const queue = state.queue;
    if (typeof callback === 'function') this.on('close', callback);
    if (queue !== undefined) {
      // A close queued behind another close finds the socket closed: nothing left to do
      // (node:dgram throws ERR_SOCKET_DGRAM_NOT_RUNNING from its queue there).
      queue.push(queued(this.close.bind(this), ignore));
      return this;
    }
    healthCheck(this);
    stopReceiving(this);
    state.lastStats = state.handle!.native.stats();
    state.handle!.close();
    releaseServerHandle(state);
    state.handle = null;
    process.nextTick(socketCloseNT, this);
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this[kState].handle) return;
    if (versions.asyncDisposeAwaits) {
      await promisify(this.close).call(this);
      return;
    }
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
    const [group, iface] = membershipArgs(multicastAddress, interfaceAddress);
    const err = handleOf(this).addMembership(group as string, iface as string | undefined);
    if (err) throw errnoException(err, 'addMembership');
  }

  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    healthCheck(this);
    if (!multicastAddress) throw ERR_MISSING_ARGS('multicastAddress');
    const [group, iface] = membershipArgs(multicastAddress, interfaceAddress);
    const err = handleOf(this).dropMembership(group as string, iface as string | undefined);
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

// The extensions live on the prototype, so node:dgram's own members stay as they are.
export interface Socket extends SocketExtensions {}
Object.assign(Socket.prototype, extensionMethods);

function stopReceiving(socket: Socket): void {
  const state = socket[kState];
  if (!state.receiving) return;
  // As the handle's recvStop(): no more reads, and the socket no longer holds the loop.
  state.handle?.native.setReading(false);
  state.receiving = false;
}

function bindFlags(state: State): number {
  let flags = 0;
  if (state.reuseAddr) flags |= FLAG_REUSE_ADDR;
  if (state.ipv6Only) flags |= FLAG_IPV6_ONLY;
  if (state.reusePort) flags |= FLAG_REUSE_PORT;
  return flags;
}

function startListening(socket: Socket): void {
  startReceiving(socket);
  socket.emit('listening');
}

function startReceiving(socket: Socket): void {
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
  if (state.recvErrors) enableRecvErrors(socket, true);
  if (state.recvBufferSize) bufferSize(socket, state.recvBufferSize, RECV_BUFFER);
  if (state.sendBufferSize) bufferSize(socket, state.sendBufferSize, SEND_BUFFER);
}

/** An event on the next tick, unless the socket closed in between. */
function emitIfOpenNT(socket: Socket, event: string): void {
  if (socket[kState].handle) socket.emit(event);
}

/**
 * bind() without the lookup or the wait (versions.syncBindConnect): binds a numeric address
 * now, throws what bind() would emit, returns address(); 'listening' comes on the next tick.
 */
function bindSync(this: Socket, options: any = {}): unknown {
  healthCheck(this);
  validateObject(options, 'options');
  const state = this[kState];
  if (state.bindState !== BIND_STATE_UNBOUND) throw ERR_SOCKET_ALREADY_BOUND();
  const port = validatePort(options.port ?? 0, 'options.port');
  let address: any = options.address;
  if (!address) {
    address = this.type === 'udp4' ? '0.0.0.0' : '::';
  } else {
    validateString(address, 'options.address');
    if (isIP(address) === 0) {
      throw ERR_INVALID_ARG_VALUE('options.address', address,
        'must be a numeric IP address; bindSync does not perform DNS resolution');
    }
  }
  state.bindState = BIND_STATE_BINDING;
  const err = state.handle!.bind(address, port, bindFlags(state));
  if (err) {
    state.bindState = BIND_STATE_UNBOUND;
    throw exceptionWithHostPort(err, 'bind', address, port);
  }
  startReceiving(this);
  process.nextTick(emitIfOpenNT, this, 'listening');
  return this.address();
}

/** connect() to a numeric address, now (versions.syncBindConnect); 'connect' on the next tick. */
function connectSync(this: Socket, port: any, address?: any): void {
  healthCheck(this);
  port = validatePort(port, 'Port', false);
  const state = this[kState];
  if (state.connectState !== CONNECT_STATE_DISCONNECTED) throw ERR_SOCKET_DGRAM_IS_CONNECTED();
  if (address == null || address === '') {
    address = this.type === 'udp4' ? '127.0.0.1' : '::1';
  } else {
    validateString(address, 'address');
    if (isIP(address) === 0) {
      throw ERR_INVALID_ARG_VALUE('address', address,
        'must be a numeric IP address; connectSync does not perform DNS resolution');
    }
  }
  if (state.bindState === BIND_STATE_UNBOUND) (this as any).bindSync();
  else if (state.bindState !== BIND_STATE_BOUND) throw ERR_SOCKET_ALREADY_BOUND();
  state.connectState = CONNECT_STATE_CONNECTING;
  if (isBlocked(state.sendBlockList, address)) {
    state.connectState = CONNECT_STATE_DISCONNECTED;
    throw ERR_IP_BLOCKED(address);
  }
  const err = state.handle!.connect(address, port);
  if (err) {
    state.connectState = CONNECT_STATE_DISCONNECTED;
    throw exceptionWithHostPort(err, 'connect', address, port);
  }
  state.connectState = CONNECT_STATE_CONNECTED;
  process.nextTick(emitIfOpenNT, this, 'connect');
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
    connectFailed(self, ex, callback);
    return;
  }
  state.connectState = CONNECT_STATE_CONNECTED;
  process.nextTick(() => self.emit('connect'));
}

/** A failed connect: its callback gets the error (or 'error' is emitted), next tick. */
function connectFailed(self: Socket, ex: unknown, callback: Callback | undefined): void {
  self[kState].connectState = CONNECT_STATE_DISCONNECTED;
  process.nextTick(() => {
    if (callback) {
      self.removeListener('connect', callback);
      callback(ex);
    } else {
      self.emit('error', ex);
    }
  });
}

/** A send that failed before it reached the handle: its callback, or 'error', next tick. */
function sendFailed(self: Socket, ex: unknown, callback: Callback | undefined): void {
  if (typeof callback === 'function') process.nextTick(callback, ex);
  else process.nextTick(() => self.emit('error', ex));
}

function ignore(): void {}

function doSend(ex: any, self: Socket, ip: string | null, list: Buffer[], address: any, port: number, callback: Callback | undefined): void {
  const state = self[kState];
  if (ex) {
    sendFailed(self, ex, callback);
    return;
  } else if (!state.handle) {
    return;
  }

  if (ip && isBlocked(state.sendBlockList, ip)) {
    if (callback) process.nextTick(callback, ERR_IP_BLOCKED(ip));
    return;
  }

  // A queued send's completion (called by the binding): the callback runs with the send
  // request as `this`, as node:dgram's afterSend calls it.
  const done = callback && ((err: number, sent: number) => {
    const req = new SendWrap(list, address, port, callback);
    callback.call(req, err ? exceptionWithHostPort(err, 'send', address, port) : null, sent);
  });
  // As node:dgram's doSend: port 0 (the string "0" passes validation before 24.19.0/26.5.0)
  // sends without an address, which an unconnected socket refuses with EDESTADDRREQ.
  const err = state.handle.send(list, port, port ? ip : null, done);
  if (typeof err === 'object') {
    // Coalesced: the callback's tick takes node:dgram's place in the queue.
    if (callback) process.nextTick(afterCoalescedSend, err, callback, address, port);
    return;
  }
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

/** A coalesced send's callback, with the outcome its flush gave it (see coalesce.ts). */
function afterCoalescedSend(p: PendingSend, callback: Callback, address: any, port: number): void {
  if (p.result === UNSENT) flushPending();
  const r = p.result;
  if (r >= 1) callback(null, r - 1);
  else if (r < 0 && r !== UNSENT) callback(exceptionWithHostPort(r, 'send', address, port));
  // 0: it waits in the socket's queue, whose completion calls back.
}

/** The request of a queued send, by the name and fields of node:dgram's. */
class SendWrap {
  constructor(
    readonly list: Buffer[],
    readonly address: unknown,
    readonly port: number,
    readonly callback: Callback,
  ) {}
}

function socketCloseNT(self: Socket): void {
  self.emit('close');
}

if (versions.syncBindConnect) Object.assign(Socket.prototype, { bindSync, connectSync });
if (!versions.privateApiRemoved) installLegacy(Socket, stopReceiving);
linkToDgramSocket(Socket);

export function createSocket(type: any, listener?: Callback): Socket {
  return new Socket(type, listener);
}
