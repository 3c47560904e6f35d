// The handle under a Socket, in the manner of Node's UDP handle over libuv: it owns the
// native socket and the address lookup of its family. The binding owns the socket's state:
// connected or not, the destination cache, and the queue of sends the kernel could not
// take at once (what getSendQueueSize/Count report), which it drains itself when writable.

import { Buffer } from 'node:buffer';
import * as dns from 'node:dns';
import { isIP } from 'node:net';
import { addPending, flushPending, joinRun, PendingSend } from './coalesce';
import { BatchSender, errno, NativeSocket, reportUncaught, sendPacked, sendSegmented } from './native';

/**
 * Node's own dns.lookup, if that is what dns.lookup is at load (recognised by its source,
 * so that a program's or a test's stand-in is never skipped): a socket using it may skip
 * it for IP literals. On a Node whose source differs, nothing is skipped.
 */
const builtinLookup = /^function lookup\(hostname, options, callback\) \{\s+let hints = 0;/.test(Function.prototype.toString.call(dns.lookup))
  ? dns.lookup
  : null;

const { EAGAIN, EINVAL, ECANCELED } = errno;

/** Buffer.from as loaded (it does not use `this`): a received ArrayBuffer becomes a Buffer over all of it. */
const bufferFrom: (ab: ArrayBuffer) => Buffer = Buffer.from;

export { FLAG_IPV6_ONLY, FLAG_REUSE_ADDR, FLAG_REUSE_PORT } from './native';

export type LookupFn = (hostname: string, options: any, callback: (err: any, address: string, family?: number) => void) => void;

export interface HandleOwner {
  onMessage(buf: Buffer, address: string, family: 'IPv4' | 'IPv6', port: number, metadata?: object): void;
  onBatch(buf: Buffer, meta: Uint32Array, addresses: string[], metadata?: object[]): void;
  onRecvError(err: number): void;
  onDrain(): void;
}

/** Received datagrams in one buffer, as the binding hands them over, and how far 'message' got. */
interface Inbox {
  buf: Buffer;
  /** Per datagram: offset, length, port, index into `addresses`. */
  meta: Uint32Array;
  addresses: string[];
  extras: object[] | undefined;
  next: number;
  families: Array<'IPv4' | 'IPv6'>;
}

/**
 * Node's own runNextTicks (`process._tickCallback`): runs the nextTick queue and the
 * microtasks, as the end of each of Node's callback scopes does. Null where it is wrapped
 * (--pending-deprecation warns on its use); datagrams then reach JS one call each.
 */
const runTicks: (() => void) | null = (() => {
  const tick = (process as unknown as { _tickCallback?: () => void })._tickCallback;
  return typeof tick === 'function' && tick.name === 'runNextTicks' ? tick : null;
})();

/** The outcome of a batch send: datagrams sent, and the error that stopped it (or 0). */
export type BatchDone = (err: number, sent: number) => void;

/** Node's test flag that makes every send wait for writability (libuv's queue). */
const NO_TRY_SEND = process.execArgv.includes('--test-udp-no-try-send');

/** Datagrams handed to the binding per call (4 sendmmsg/GSO calls of 64). */
const WINDOW = 256;
/** Bytes packed per call, so that the reused buffer stays small. */
const WINDOW_BYTES = 1 << 20;
/** Datagrams sent per event-loop turn before a batch waits for the next writable event. */
const MAX_PER_TURN = 4096;

/** A batch in progress: what was sent so far survives an EAGAIN. */
class BatchSend {
  sent = 0;
  error = 0;
  constructor(
    private readonly handle: Handle,
    private readonly list: Buffer[],
    /** Per datagram, or one for all. */
    private readonly ports: number[],
    /** Per datagram, or one for all; empty for the connected peer. */
    private readonly ips: string[],
    /** With a segment size, `list` goes out in GSO buffers to `ips[0]:ports[0]`. */
    private readonly segment: number,
  ) {}

  /**
   * Sends the next windows of the batch. Returns 0 when all went out, an errno when one
   * failed, or EAGAIN to continue when writable: after the kernel took only part of a
   * window (pushback, or an error on the next datagram that the retry reports), or after
   * MAX_PER_TURN datagrams, so that a huge batch does not hold the event loop.
   */
  attempt(): number {
    const list = this.list;
    const n = list.length;
    const stop = Math.min(n, this.sent + MAX_PER_TURN);
    // Pending coalesced sends of this tick leave first.
    flushPending();
    const sender = this.handle.batchSender();
    while (this.sent < stop) {
      const from = this.sent;
      let end: number;
      let r: number;
      if (this.segment > SMALL_SEGMENT) {
        // Large datagrams: the binding gathers the buffers where they lie.
        end = windowEnd(list, from, stop);
        r = this.handle.native.sendSegments(list.slice(from, end), this.segment, this.ports.length > 0 ? this.ports[0] : 0, this.ips[0]);
      } else {
        // Small ones: one copy into a reused buffer costs less than an iovec (and a JS value)
        // each, and a single value crosses into native code instead of one per datagram.
        end = this.handle.gather(list, from, stop);
        const packed = this.handle.scratch!;
        const want = end - from;
        // The reused buffer and arrays go whole, with the count of bytes or datagrams used.
        if (this.segment > 0) {
          r = sendSegmented(sender, packed, this.handle.gathered, this.segment, this.ports.length > 0 ? this.ports[0] : 0, this.ips[0]);
        } else {
          r = this.ips.length === 0
            ? sendPacked(sender, NO_HOSTS, packed, want, runLengths, EMPTY, EMPTY)
            : sendPacked(sender, destinations(this.ports, this.ips, from, want), packed, want, runLengths, runPorts, runHostIndex);
        }
      }
      const want = end - from;
      if (r > 0) {
        this.sent += r;
        if (r < want) return EAGAIN;
        continue;
      }
      if (r === EAGAIN) return EAGAIN;
      this.error = r < 0 ? r : EAGAIN;
      return this.error;
    }
    return this.sent < n ? EAGAIN : 0;
  }
}

/**
 * The end of the window of `list` from `from` (before `stop`): up to WINDOW datagrams, and
 * no more than WINDOW_BYTES unless one datagram is bigger.
 */
function windowEnd(list: Buffer[], from: number, stop: number): number {
  let end = from + 1;
  let bytes = list[from].length;
  while (end < stop && end - from < WINDOW && bytes + list[end].length <= WINDOW_BYTES) bytes += list[end++].length;
  return end;
}

/** Distinct hosts of a window up to which a linear search beats a Map. */
const FEW_HOSTS = 8;
const hostSlots = new Map<string, number>();

/**
 * Fills runPorts and runHostIndex for datagrams `from..from+n` (ports and ips per datagram,
 * or one of each for all) and returns their distinct hosts (runHosts, reused): each is
 * parsed once per window by the binding.
 */
function destinations(ports: number[], ips: string[], from: number, n: number): string[] {
  runHosts.length = 0;
  if (ips.length === 1) {
    runHosts.push(ips[0]);
    runPorts.fill(ports[0], 0, n);
    runHostIndex.fill(0, 0, n);
    return runHosts;
  }
  hostSlots.clear();
  for (let k = 0; k < n; k++) {
    const ip = ips[from + k];
    runPorts[k] = ports[from + k];
    let h: number | undefined;
    if (runHosts.length <= FEW_HOSTS) {
      h = runHosts.length - 1;
      while (h >= 0 && runHosts[h] !== ip) h--;
      if (h < 0) {
        h = runHosts.push(ip) - 1;
        if (runHosts.length > FEW_HOSTS) for (let j = 0; j < runHosts.length; j++) hostSlots.set(runHosts[j], j);
      }
    } else {
      h = hostSlots.get(ip);
      if (h === undefined) {
        h = runHosts.push(ip) - 1;
        hostSlots.set(ip, h);
      }
    }
    runHostIndex[k] = h;
  }
  return runHosts;
}

const EMPTY = new Uint32Array(0);
/** No destinations: the connected peer. */
const NO_HOSTS: string[] = [];

/** The reused send buffer's first size: a window of small datagrams fits. */
const SCRATCH_BYTES = 64 * 1024;

/**
 * TypedArray.prototype.set, called directly: looking `set` up on each Buffer goes through
 * Buffer.prototype's many methods and is not inlined (a generic property load per copy).
 */
const typedArraySet = Uint8Array.prototype.set;

/** Segments up to this size are copied together before a GSO send. */
const SMALL_SEGMENT = 512;

/** Equal-size datagrams to one destination go out as one GSO send from this many on. */
const MIN_GSO_RUN = 2;
/** Datagrams over this size are not gathered into GSO sends (a few per call anyway). */
const MAX_GSO_SEGMENT = 8192;

/** Per-datagram arrays of a plain coalesced send, reused. */
const runLengths = new Uint32Array(WINDOW);
const runPorts = new Uint32Array(WINDOW);
const runHostIndex = new Uint32Array(WINDOW);
const runHosts: string[] = [];

export class Handle {
  /** The binding's socket; sends use it directly, everything else through `native`. */
  private readonly sock: NativeSocket;
  /** sock.sendOne and sock.trySendOne as functions bound to the socket: the same calls, cheaper (bound.rs). */
  private readonly sendOne: (buf: Uint8Array, port: number, ip: string | undefined, done?: (err: number, sent: number) => void) => number;
  private readonly trySendOne: (buf: Uint8Array, port: number, ip: string | undefined) => number;
  readonly lookup: (address: string | undefined, cb: (err: any, ip: string) => void) => void;
  owner: HandleOwner | null = null;
  /** The reused send buffer of batch sends (see gather). */
  scratch: Buffer | null = null;
  private keepAlive: NodeJS.Timeout | null = null;
  /** The last peer address the binding sent (it sends `undefined` while unchanged). */
  private lastAddress = '';
  private lastFamily: 'IPv4' | 'IPv6' = 'IPv4';
  /** The slab of received datagrams being emitted (see deliverMessages). */
  private inbox: Inbox | null = null;
  private closed = false;
  /** The lookup is Node's dns.lookup, which answers IP literals itself (see literalOf). */
  private literalLookup = false;
  private lastLiteral: string | null = null;
  private lastLiteralFamily = 0;
  /** Sends are coalesced per tick (see coalesce.ts) unless IP_RECVERR is on. */
  private coalesce = true;

  constructor(readonly ipv6: boolean, lookup: LookupFn) {
    this.sock = new NativeSocket(ipv6);
    if (NO_TRY_SEND) this.sock.setTrySend(false);
    this.sendOne = this.sock.sendOneFunction();
    this.trySendOne = this.sock.trySendOneFunction();
    const fallback = ipv6 ? '::1' : '127.0.0.1';
    const family = ipv6 ? 6 : 4;
    if (lookup !== builtinLookup) {
      this.lookup = (address, cb) => lookup(address || fallback, family, cb);
      return;
    }
    // dns.lookup answers an IP literal on the next tick without resolving anything; doing
    // just that (with the last literal remembered) keeps its timing and skips its cost.
    this.literalLookup = true;
    this.lookup = (address, cb) => {
      const host = this.literalOf(address);
      if (host !== null) {
        process.nextTick(cb, null, host, this.lastLiteralFamily);
        return;
      }
      lookup(address || fallback, family, cb as any);
    };
  }

  /**
   * `address` (or the default address) when it is an IP literal that this socket's lookup
   * answers with itself on the next tick: a send can queue that tick itself, with no
   * closure. Null otherwise.
   */
  literalOf(address: unknown): string | null {
    if (!this.literalLookup) return null;
    const host = address || (this.ipv6 ? '::1' : '127.0.0.1');
    if (typeof host !== 'string') return null;
    if (host === this.lastLiteral) return host;
    const fam = isIP(host);
    if (fam === 0) return null;
    this.lastLiteral = host;
    this.lastLiteralFamily = fam;
    return host;
  }

  /**
   * The binding's socket, for anything but a send: what sends are pending in this tick go
   * to the kernel first, as on node:dgram they already have (a state change, an option, a
   * queue size or a stats read must come after them).
   */
  get native(): NativeSocket {
    flushPending();
    return this.sock;
  }

  /** IP_RECVERR on or off; with it on, an ICMP error is reported by the send after it, so sends are not coalesced. */
  setRecvErrors(on: boolean): number {
    const err = this.native.setRecvErrors(on);
    if (err === 0) this.coalesce = !on;
    return err;
  }

  // Node's UDP handle methods, under their names (a closed socket's null handle then fails
  // with the same TypeError as node:dgram's). They return 0 or a negative errno.

  open(fd: number): number {
    return this.native.open(fd);
  }

  /** The descriptor, or EBADF (negative) before there is one, as Node's UDP handle. */
  get fd(): number {
    return this.native.fd();
  }

  /** Adopts a duplicate of a descriptor someone else keeps owning. */
  openDup(fd: number): number {
    return this.native.openDup(fd);
  }

  // The C++ handle converts addresses with ToString (a Symbol throws a TypeError).
  bind(ip: unknown, port: number, flags: number): number {
    return this.native.bind(`${ip}`, port, flags);
  }

  /** EISCONN when connected already: the binding knows. */
  connect(ip: unknown, port: number): number {
    return this.native.connect(`${ip}`, port);
  }

  disconnect(): number {
    return this.native.disconnect();
  }

  getsockname() {
    return this.native.sockname();
  }

  getpeername() {
    return this.native.peername();
  }

  setBroadcast(on: boolean): number {
    return this.native.setBroadcast(on);
  }

  // The C++ handle reads TTLs with Int32Value, i.e. ToInt32.
  setTTL(ttl: number): number {
    return this.native.setTtl(ttl | 0);
  }

  setMulticastTTL(ttl: number): number {
    return this.native.setMulticastTtl(ttl | 0);
  }

  setMulticastLoopback(on: boolean): number {
    return this.native.setMulticastLoopback(on);
  }

  setMulticastInterface(iface: string): number {
    return this.native.setMulticastInterface(iface);
  }

  addMembership(group: unknown, iface: unknown): number {
    const g = `${group}`;
    return withInterface(iface, (i) => this.native.setMembership(g, i, true));
  }

  dropMembership(group: unknown, iface: unknown): number {
    const g = `${group}`;
    return withInterface(iface, (i) => this.native.setMembership(g, i, false));
  }

  addSourceSpecificMembership(source: string, group: string, iface: unknown): number {
    return withInterface(iface, (i) => this.native.setSourceMembership(source, group, i, true));
  }

  dropSourceSpecificMembership(source: string, group: string, iface: unknown): number {
    return withInterface(iface, (i) => this.native.setSourceMembership(source, group, i, false));
  }

  /** SO_RCVBUF (`recv`) or SO_SNDBUF; `size` 0 reads. The value or a negative errno. */
  bufferSize(size: number, recv: boolean): number {
    return this.native.bufferSize(size, recv);
  }

  /** Node's handle callback, by its shape: for code that drives a handle by hand. */
  onmessage(nread: number, _handle: unknown, buf: Buffer | null, rinfo: { address: string; port: number } | null): void {
    if (nread < 0) this.owner?.onRecvError(nread);
    else if (buf && rinfo) this.owner?.onMessage(buf, rinfo.address, rinfo.address.includes(':') ? 'IPv6' : 'IPv4', rinfo.port);
  }

  recvStart(): number {
    return this.native.recvStart(
      ((a: Buffer | ArrayBuffer | number | undefined, b: any, c: any, d: any) => {
        // Every receive path runs through here: a number is a receive error.
        if (typeof a === 'number') {
          this.owner?.onRecvError(a);
          return true;
        }
        if (a === undefined) return this.deliverMessages(null);
        if (b instanceof Uint32Array) return this.deliverMessages({ buf: a as Buffer, meta: b, addresses: c, extras: d, next: 0, families: [] });
        // One datagram, in an ArrayBuffer of its own that becomes the Buffer here (cheaper
        // than Node's C++ Buffer constructors). The binding sends a peer's address only
        // when it changes.
        if (b === undefined) {
          b = this.lastAddress;
        } else {
          this.lastAddress = b;
          this.lastFamily = b.includes(':') ? 'IPv6' : 'IPv4';
        }
        this.owner?.onMessage(bufferFrom(a as ArrayBuffer), b, this.lastFamily, c, d);
        return true;
      }) as (arg?: unknown) => unknown,
      (() => this.owner?.onDrain()) as (arg?: unknown) => unknown,
      runTicks !== null,
    );
  }

  /**
   * Emits the datagrams of `inbox` (or, given null, of the one a throwing handler left),
   * one 'message' each, running the nextTicks and microtasks each handler queued before
   * the next handler, as node:dgram's one callback scope per datagram does. The cursor
   * moves before each handler runs, so that after a throw (which leaves this call, to be
   * reported as uncaught) the binding's next call goes on with the datagram after it.
   * Returns true when the slab is done.
   */
  private deliverMessages(inbox: Inbox | null): boolean {
    const b = inbox ?? this.inbox;
    if (b === null) return true;
    this.inbox = b;
    const meta = b.meta;
    const n = meta.length >>> 2;
    while (b.next < n) {
      const owner = this.owner;
      if (owner === null) break;
      const k = b.next++ << 2;
      const idx = meta[k + 3];
      const address = b.addresses[idx];
      const family = b.families[idx] ??= address.includes(':') ? 'IPv6' : 'IPv4';
      const off = meta[k];
      owner.onMessage(b.buf.subarray(off, off + meta[k + 1]), address, family, meta[k + 2], b.extras?.[k >>> 2]);
      if (b.next < n) {
        // A throwing tick must not leave this call: its async context would still be on
        // Node's stack when the callback scope closes. Node's uncaught handler resets it.
        try {
          runTicks!();
        } catch (e) {
          reportUncaught(e);
        }
      }
    }
    this.inbox = null;
    return true;
  }

  /**
   * Sends `list` as one datagram. Returns bytes + 1 on synchronous success, 0 when queued
   * (then `done` runs from the event loop, called by the binding), or a negative errno.
   */
  send(list: Buffer[], port: number, ip: string | null, done: ((err: number, sent: number) => void) | undefined): number | PendingSend {
    for (let i = 0; i < list.length; i++) list[i] = asUint8(list[i]);
    // A lookup that yields a non-string: node:dgram's C++ aborts on it; udpx reports it.
    if (ip !== null && typeof ip !== 'string') return EINVAL;
    // libuv's checks before a send (EISCONN, EDESTADDRREQ) are the binding's: a send with
    // an address to a connected socket fails there, at its turn. Sends without one (a
    // connected socket) are not coalesced: on loopback an ICMP error raised during a
    // sendmmsg is taken by the next message, and node:dgram's ECONNREFUSED would be lost.
    // (A send while others wait in the queue joins the run too: the flush queues it.)
    if (ip !== null && list.length === 1 && this.coalesce && !NO_TRY_SEND && joinRun()) {
      return addPending(this, list[0], port, ip, done);
    }
    // Earlier sends, of any socket, leave first.
    flushPending();
    return list.length === 1
      ? this.sendOne(list[0], ip === null ? 0 : port, ip ?? undefined, done)
      : this.sock.send(list, ip === null ? 0 : port, ip ?? undefined, done);
  }

  /** The binding's batch-send handle of this socket (see native.ts), made on first use. */
  private sender: BatchSender | null = null;

  batchSender(): BatchSender {
    return this.sender ?? (this.sender = this.sock.batchSender());
  }

  /** How many bytes of `scratch` the last gather() filled. */
  gathered = 0;

  /**
   * Copies the window of `list` from `from` (before `stop`; see windowEnd) back to back into
   * this socket's reused buffer `scratch`, in one pass: `gathered` bytes, each length to
   * runLengths. Returns the window's end.
   */
  gather(list: Buffer[], from: number, stop: number): number {
    let scratch = this.scratch ?? (this.scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES));
    let off = 0;
    let end = from;
    for (; end < stop && end - from < WINDOW; end++) {
      const b = list[end];
      const len = b.length;
      if (end > from && off + len > WINDOW_BYTES) break;
      if (off + len > scratch.length) {
        // Grown for a big window (up to WINDOW_BYTES, or one bigger datagram), then kept.
        const bigger = Buffer.allocUnsafeSlow(Math.max(off + len, Math.min(2 * scratch.length, WINDOW_BYTES)));
        typedArraySet.call(bigger, scratch.subarray(0, off), 0);
        scratch = this.scratch = bigger;
      }
      typedArraySet.call(scratch, b, off);
      runLengths[end - from] = len;
      off += len;
    }
    this.gathered = off;
    return end;
  }

  /**
   * Sends `list[from..to]`, pending sends of this socket in order, and sets each one's
   * result as node:dgram's own send would have had it: runs of equal-size datagrams to one
   * destination in GSO sends, the rest with sendmmsg; after a partial send the next
   * datagram is tried again on its own, so a failure is that datagram's own errno. From
   * the first EAGAIN on (or when the binding's queue already holds sends) they wait in the
   * queue, as in libuv's, which every later send joins until it drains.
   */
  sendRun(list: PendingSend[], from: number, to: number, data: Buffer): void {
    let i = from;
    while (i < to) {
      if (this.closed || this.sock.sendQueueCount() > 0) {
        for (; i < to; i++) this.queuePending(list[i]);
        return;
      }
      const gsoEnd = gsoRunEnd(list, i, to);
      if (gsoEnd - i >= MIN_GSO_RUN) {
        const first = list[i];
        const run = payloads(list, i, gsoEnd, data);
        const r = sendSegmented(this.batchSender(), run, run.length, first.length, first.port, first.ip);
        if (r > 0) {
          for (const end = i + r; i < end; i++) list[i].result = list[i].length + 1;
          if (i === gsoEnd) continue;
        }
        // What the GSO sends did not take goes plain, where each datagram gets its own outcome.
        i = this.sendPlain(list, i, gsoEnd, to, data);
        continue;
      }
      // Single datagrams up to the next run of equal ones.
      let end = i + 1;
      while (end < to && end - i < WINDOW && gsoRunEnd(list, end, Math.min(to, end + MIN_GSO_RUN)) - end < MIN_GSO_RUN) end++;
      i = this.sendPlain(list, i, end, to, data);
    }
  }

  /**
   * Sends `list[from..end]` with sendmmsg until done or EAGAIN (then all of `list[..to]`
   * from there waits in the queue). Returns where it stopped.
   */
  private sendPlain(list: PendingSend[], from: number, end: number, to: number, data: Buffer): number {
    let i = from;
    while (i < end) {
      const n = Math.min(end - i, WINDOW);
      if (n === 1) {
        // One datagram (a reply, a lone send): the cached destination, no arrays.
        const p = list[i];
        const r = this.trySendOne(data.subarray(p.offset, p.offset + p.length), p.port, p.ip);
        if (r === EAGAIN) {
          for (; i < to; i++) this.queuePending(list[i]);
          return to;
        }
        p.result = r;
        i++;
        continue;
      }
      runHosts.length = 0;
      for (let k = 0; k < n; k++) {
        const p = list[i + k];
        runLengths[k] = p.length;
        runPorts[k] = p.port;
        let h = runHosts.length - 1;
        while (h >= 0 && runHosts[h] !== p.ip) h--;
        if (h < 0) h = runHosts.push(p.ip) - 1;
        runHostIndex[k] = h;
      }
      // The per-datagram arrays go whole, with the count used (no views per window).
      const r = sendPacked(this.batchSender(), runHosts, payloads(list, i, i + n, data), n, runLengths, runPorts, runHostIndex);
      if (r > 0) {
        for (const stop = i + r; i < stop; i++) list[i].result = list[i].length + 1;
      } else if (r === EAGAIN) {
        for (; i < to; i++) this.queuePending(list[i]);
        return to;
      } else {
        // The first datagram failed on its own (after a partial send, tried again alone).
        list[i++].result = r < 0 ? r : EINVAL;
      }
    }
    return i;
  }

  /**
   * A pending send the kernel would not take now: into the binding's queue, as libuv's,
   * which sends from the caller's buffer when writable.
   */
  private queuePending(p: PendingSend): void {
    p.result = this.closed ? errno.EBADF : this.sock.queueOne(p.buf, p.port, p.ip, p.done);
  }

  /**
   * Sends each of `list` as its own datagram: to `ips[i]:ports[i]`, or all to
   * `ips[0]:ports[0]` (one of each given; in `segment`-sized GSO pieces when `segment` is
   * set), or (no ips) to the connected peer. Completes
   * synchronously unless the kernel pushes back; `done(err, sent)` always runs once,
   * from this call or from the loop. Returns true when it completed synchronously.
   */
  sendBatch(list: Buffer[], ports: number[], ips: string[], segment: number, done: BatchDone): boolean {
    // Coalesced sends of this tick leave first (or join the queue first, on EAGAIN).
    flushPending();
    const batch = new BatchSend(this, list, ports, ips, segment);
    // A batch waits behind queued sends; libuv's checks (EISCONN, EDESTADDRREQ) are the
    // binding's, on the attempt or on queueing.
    if (this.sock.sendQueueCount() === 0 && batch.attempt() !== EAGAIN) {
      done(batch.error, batch.sent);
      return true;
    }
    let bytes = 0;
    for (const b of list) bytes += b.length;
    const r = this.sock.queueBatch(() => batch.attempt(), ((err: number) => done(err === ECANCELED ? err : batch.error, batch.sent)) as (arg?: unknown) => unknown, bytes, ips.length > 0);
    if (r < 0) done(r, batch.sent);
    return false;
  }

  /**
   * Pauses or resumes reading. A paused socket has no active poll, so a ref'd one holds
   * the event loop with an idle timer instead, as a reading one would.
   */
  setReading(on: boolean): void {
    if (this.closed) return;
    this.native.setReading(on);
    if (on) {
      if (this.keepAlive) clearInterval(this.keepAlive);
      this.keepAlive = null;
    } else if (!this.keepAlive) {
      this.keepAlive = setInterval(() => {}, 2 ** 30);
      if (!this.hasRef()) this.keepAlive.unref();
    }
  }

  /**
   * Batched delivery to the owner's onBatch (true) or one onMessage call per datagram. A
   * batch arrives as one ArrayBuffer: `count` × four u32 fields (payload offset, length,
   * port, address index), then `bytes` of payloads.
   */
  setBatchDelivery(on: boolean): number {
    return this.native.setBatchHandler(on ? ((ab: ArrayBuffer, count: number, bytes: number, addrs: string[], metadata?: object[]) => {
      const meta = new Uint32Array(ab, 0, count * 4);
      this.owner?.onBatch(Buffer.from(ab, count * 16, bytes), meta, addrs, metadata);
    }) as (arg?: unknown) => unknown : null);
  }

  // What node:dgram's queue holds now: the pending sends have met the kernel there.
  getSendQueueSize(): number {
    flushPending();
    return this.sock.sendQueueSize();
  }

  getSendQueueCount(): number {
    flushPending();
    return this.sock.sendQueueCount();
  }

  ref(): void {
    this.sock.setRef(true);
    this.keepAlive?.ref();
  }

  unref(): void {
    this.sock.setRef(false);
    this.keepAlive?.unref();
  }

  hasRef(): boolean {
    return this.sock.hasRef();
  }

  close(): void {
    if (this.closed) return;
    flushPending();
    this.closed = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
    // The binding completes queued sends when the close completes, after 'close' (sent
    // ones with their outcome, the rest with ECANCELED), as libuv does.
    this.sock.close();
    this.owner = null;
  }
}

/** The payloads of `list[from..to]`, back to back in `data`. */
function payloads(list: PendingSend[], from: number, to: number, data: Buffer): Buffer {
  const last = list[to - 1];
  return data.subarray(list[from].offset, last.offset + last.length);
}

/**
 * The end of the run of pending sends from `from` (before `to`) that can go out as one GSO
 * send: one destination, one size but a shorter last one.
 */
function gsoRunEnd(list: PendingSend[], from: number, to: number): number {
  const first = list[from];
  const size = first.length;
  if (size === 0 || size > MAX_GSO_SEGMENT) return from + 1;
  let j = from + 1;
  while (j < to) {
    const p = list[j];
    if (p.ip !== first.ip || p.port !== first.port) break;
    const len = p.length;
    if (len !== size) {
      if (len > 0 && len < size) j++;
      break;
    }
    j++;
  }
  return j;
}

/**
 * Runs a membership call as the C++ handle does: an interface that cannot become a string
 * (a Symbol) is passed as "" — the call still happens, with its implicit bind — and the
 * conversion's TypeError is thrown afterwards.
 */
function withInterface(iface: unknown, call: (iface: string | undefined) => number): number {
  let converted: string | undefined;
  let failure: unknown = null;
  try {
    converted = optString(iface);
  } catch (e) {
    converted = '';
    failure = e;
  }
  const r = call(converted);
  if (failure !== null) throw failure;
  return r;
}

/** The C++ handle takes "no interface" as undefined or null, anything else as a string. */
function optString(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : `${v}`;
}

/** The binding reads bytes from Uint8Arrays; other views are re-viewed, not copied. */
function asUint8(b: NodeJS.ArrayBufferView): Buffer {
  return (b instanceof Uint8Array ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as Buffer;
}
