// Hostile input: seeded random sequences of dgram calls with hostile arguments.
//
// For each seed the same sequence runs in two child processes, one on node:dgram and one on
// udpx (one after the other, never at the same time, because some hostile port values
// bind fixed ports). Each child streams one line per call outcome and per event, so a
// crash still leaves the trace up to the crash; if node:dgram itself crashes (a native
// CHECK), the traces are compared up to that point and the crash is logged. udpx's child must never die from a
// signal or a native abort, must exit by itself (every socket is closed at the end), and
// its trace must match node:dgram's: for every call the outcome category (returned what /
// threw which class and code), and the events (listening, close, connect, error codes,
// callbacks and their error codes). Error messages are compared in a separate test.
//
// Safety: every name lookup goes through a stand-in for dns.lookup that only resolves
// 'localhost' and a few loopback/wildcard literals (so no name ever reaches a resolver
// and no datagram leaves loopback); every valid destination port is the port of two
// "sink" sockets (127.0.0.1:P and ::1:P, node:dgram in both runs) that read and drop what
// they get; multicast joins on a valid group always name the loopback interface.
//
// After the random sequences come small fixed cases, one per divergence the sequences
// found, so that each is pinned down on its own (the sequences report only their first
// difference).

import test from 'ava';
import { spawn } from 'child_process';
import * as path from 'path';
import { DEADLINE_SCALE, limiter, runNode, scriptFile } from './helpers';
import { versions } from '../lib/versions';

const UDPX = path.resolve(__dirname, '../index.js');
const SEEDS = [0x5eed0001, 0x00c0ffee, 0x0badf00d];
const CALLS = 300;
const DEADLINE_MS = 20000;
/** The fixed cases' children: bounded in time, and at most four at once (few CPUs). */
const SCRIPT_MS = 10000 * DEADLINE_SCALE;
const limited = limiter(4);

const CHILD = String.raw`
'use strict';
const dns = require('dns');
const nodeDgram = require('node:dgram');
const [mod, seedArg, callsArg] = process.argv.slice(2);
const out = (obj) => process.stdout.write('T ' + JSON.stringify(obj) + '\n');
let P = 0;

// ---- PRNG (mulberry32) ----
let state = Number(seedArg) >>> 0;
function random() {
  state = (state + 0x6D2B79F5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const rnd = (n) => Math.floor(random() * n);
/** Picks one of the thunks and calls it. */
const pick = (list) => list[rnd(list.length)]();

// ---- describing values and errors ----
function normPort(p) {
  if (typeof p === 'string') return 'str:' + norm(p);
  if (p === P) return 'P';
  if (typeof p === 'number' && p > 0 && ![65535, 4464, 1].includes(p)) return 'port';
  return p;
}
function norm(s) {
  s = String(s);
  if (!P) return s;
  // Whole numbers only: P inside a longer number (P = 1234 in "12345") is another number,
  // and the two runs have different sink ports.
  const dec = (v) => new RegExp('(?<![0-9])' + v + '(?![0-9])', 'g');
  s = s.replace(dec(String(2 ** 32 + P)), '2^32+P').replace(dec(String(P)), 'P');
  return s.replace(new RegExp('(?<![0-9A-Za-z])0x' + P.toString(16) + '(?![0-9A-Fa-f])', 'g'), '0xP');
}
function short(v) {
  try {
    if (typeof v === 'string') return 'str(' + v.length + (v.includes('\0') ? ',nul' : '') + '):' + JSON.stringify(norm(v.slice(0, 20)));
    if (typeof v === 'number') return 'num:' + (Object.is(v, -0) ? '-0' : norm(String(v)));
    if (typeof v === 'bigint') return 'bigint';
    if (typeof v === 'symbol') return 'symbol';
    if (typeof v === 'function') return 'fn:' + v.name;
    if (v === null || v === undefined || typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) return 'array(' + v.length + ')';
    if (ArrayBuffer.isView(v)) return (v.constructor && v.constructor.name) + '(' + v.byteLength + ')';
    const tag = Object.prototype.toString.call(v);
    if (tag === '[object Object]' && !(v instanceof Error) && Object.getPrototypeOf(v) === Object.prototype) {
      // A plain object (options): its own properties, without calling getters.
      const d = Object.getOwnPropertyDescriptors(v);
      return '{' + Object.keys(d).map((k) => k + ':' + ('value' in d[k] ? (k === 'signal' ? 'signal' : short(d[k].value)) : 'getter')).join(',') + '}';
    }
    return 'obj:' + tag;
  } catch (e) { return 'hostile'; }
}
function category(e) {
  if (e instanceof Error || (e && typeof e === 'object' && 'message' in e)) {
    let name;
    try { name = e.constructor && e.constructor.name; } catch { name = '?'; }
    return name + ':' + (e.code === undefined ? '' : e.code) + (e.syscall ? ':' + e.syscall : '');
  }
  return 'non-error:' + typeof e + ':' + short(e);
}
function message(e) {
  try { return norm(e && e.message); } catch { return '?'; }
}
/** Whether the message is compared: Node-style errors (with a code) and our own errors. */
function messageMatters(e) {
  try { return !!(e && (e.code || /^(getter|valueOf|toString|toPrimitive|proxy|lookup) /.test(e.message))); } catch { return false; }
}

// ---- hostile values ----
const getterThrows = () => new Proxy({}, { get(_, k) { if (typeof k === 'symbol') return undefined; throw new Error('proxy get ' + String(k)); } });
const objWithGetters = (keys) => {
  const o = {};
  for (const k of keys) Object.defineProperty(o, k, { enumerable: true, get() { throw new Error('getter ' + k); } });
  return o;
};
const valueOfThrows = () => ({ valueOf() { throw new Error('valueOf called'); } });
const toStringThrows = () => ({ toString() { throw new Error('toString called'); } });
const toPrimitiveThrows = () => ({ [Symbol.toPrimitive]() { throw new Error('toPrimitive called'); } });
const detachedView = () => {
  const ab = new ArrayBuffer(16);
  const v = new Uint8Array(ab, 4, 8);
  structuredClone(ab, { transfer: [ab] });
  return v;
};
const LONG = 'L'.repeat(100000);

const misc = [
  () => undefined, () => null, () => true, () => false, () => 0, () => -0, () => NaN,
  () => Infinity, () => -Infinity, () => 2 ** 31, () => 2 ** 32, () => 2 ** 53, () => -(2 ** 53),
  () => 1.5, () => 1e300, () => -1, () => '', () => 'x', () => 'a\0b', () => LONG,
  () => Symbol('hostile'), () => 10n, () => ({}), () => [], () => [1, 2], () => Object.create(null),
  () => getterThrows(), () => valueOfThrows(), () => toStringThrows(), () => toPrimitiveThrows(),
  () => new Date(0), () => /re/, () => new Error('an error value'), () => function named() {},
];
const anyValue = () => pick(misc);

const payloads = [
  () => 'hello', () => '', () => 'a\0b\0', () => 'x'.repeat(70000), () => LONG,
  () => Buffer.alloc(0), () => Buffer.from('abc'), () => Buffer.alloc(70000), () => Buffer.alloc(65507),
  () => new Uint16Array(4), () => new Float64Array(2), () => new DataView(new ArrayBuffer(8), 2, 4),
  () => new Uint8Array(new SharedArrayBuffer(16)), () => new Uint8Array(0), () => new Uint8Array(new ArrayBuffer(0)),
  () => detachedView(), () => new ArrayBuffer(8), () => new SharedArrayBuffer(8),
  () => Array.from({ length: 1000 }, () => Buffer.alloc(8)),
  () => Array.from({ length: 2000 }, () => Buffer.alloc(1)),
  () => [Buffer.from('a'), 'b', new Uint8Array(2), new DataView(new ArrayBuffer(3))],
  () => [Buffer.from('a'), 5], () => [], () => [detachedView(), Buffer.from('z')],
  () => [new Uint8Array(new SharedArrayBuffer(4))], () => [Symbol('s')],
  anyValue,
];
const payload = () => pick(payloads);

// Valid destination ports are always P; everything else fails validation.
const destPorts = [
  () => P, () => P, () => P, () => String(P), () => ' ' + P + ' ', () => '0x' + P.toString(16), () => P + 0.5,
  () => 0, () => -0, () => -1, () => 65536, () => 70000, () => NaN, () => '', () => '  ', () => 'abc',
  () => null, () => undefined, () => ({}), () => Symbol('p'), () => 2 ** 53, () => 10n,
  () => valueOfThrows(), () => [P], () => true,
];
const destPort = () => pick(destPorts);
// Bind ports: 0 (random), P (in use), or values that libuv folds to 65535, 4464 or 0 (never a
// fixed port inside the kernel's ephemeral range, where other tests' sockets live).
const bindPorts = [
  () => 0, () => 0, () => P, () => -1, () => 65536, () => 70000, () => NaN, () => '0', () => 'abc',
  () => null, () => undefined, () => ({}), () => 2 ** 32 + P, () => 2 ** 20 + 4464, () => -0, () => String(P),
];
const bindPort = () => pick(bindPorts);

const destAddresses = [
  () => '127.0.0.1', () => '127.0.0.1', () => '::1', () => '::1', () => 'localhost', () => '::ffff:127.0.0.1',
  () => '', () => undefined, () => null, () => 'no.such.host.invalid', () => '127.0.0.1\0junk',
  // 192.0.2.1 (TEST-NET-1) reaches the stand-in lookup below, which fails it, as long as the
  // default lookup asks dns.lookup; from 24.19.0/26.5.0 it answers IP literals itself, and a
  // send would leave loopback, so it is no destination there.
  () => 'h'.repeat(10000), ...(${String(versions.defaultLookupSkipsLiterals)} ? [] : [() => '192.0.2.1']), () => 1234, () => ({}), () => Symbol('a'), () => [],
  () => toStringThrows(), () => true,
];
const destAddress = () => pick(destAddresses);
const bindAddresses = [...destAddresses, () => '0.0.0.0', () => '::', () => '0.0.0.0', () => '::'];
const bindAddress = () => pick(bindAddresses);

const groups = [
  () => '224.0.0.114', () => '239.1.2.3', () => 'ff02::114', () => '232.1.1.1', () => '224.0.0.114\0x',
  () => '127.0.0.1', () => '', () => 'junk', () => Symbol('g'), () => ({}), () => LONG, () => 1234,
  () => null, () => undefined, () => toStringThrows(), () => ['224.0.0.114'],
];
const ifaces = [
  () => '127.0.0.1', () => '::%lo', () => '::1', () => '127.0.0.1\0x', () => 'junk', () => '',
  () => undefined, () => null, () => Symbol('i'), () => 5, () => toStringThrows(),
];
const VALID_GROUPS = ['224.0.0.114', '239.1.2.3', 'ff02::114', '232.1.1.1'];
/** A valid group never gets the default interface: no IGMP/MLD report leaves loopback. */
function safeIface(group, iface) {
  if (VALID_GROUPS.includes(group) && (iface === undefined || iface === null)) return group.includes(':') ? '::%lo' : '127.0.0.1';
  return iface;
}
const sources = [() => '127.0.0.1', () => '::1', () => 'junk', () => '', () => 5, () => undefined, () => Symbol('s')];

const ttls = [() => 1, () => 64, () => 255, () => 0, () => 256, () => -1, () => NaN, () => 1.5, () => '64', () => 2 ** 31, () => null, () => valueOfThrows(), () => 10n];
const sizes = [() => 1, () => 4096, () => 2 ** 31 - 1, () => 2 ** 32 - 1, () => 2 ** 32, () => 0, () => -1, () => NaN, () => 1.5, () => '1024', () => null, () => undefined, () => valueOfThrows()];
const offsets = [() => 0, () => 1, () => 2, () => -1, () => 2 ** 32 + 1, () => 1e9, () => NaN, () => '1', () => null, () => undefined, () => 1.5, () => valueOfThrows(), () => Symbol('o'), () => 10n, () => ({})];

// ---- callbacks and events ----
let seq = 0;
function cb(label) {
  const id = seq++;
  return function (err, n) {
    out({ ev: 'cb', label, id, err: err === null || err === undefined ? err : category(err), msg: err ? message(err) : undefined, n: typeof n === 'number' ? n : short(n), self: this === undefined ? 'undefined' : undefined });
  };
}
const callbacks = [() => cb('cb'), () => undefined, () => null, () => 'notfn', () => ({}), () => cb('cb')];
const maybeCb = () => pick(callbacks);

// ---- custom lookups (given through createSocket options) ----
const fam = (o) => (o === 6 || (o && o.family === 6) ? 6 : 4);
const loop = (o) => (fam(o) === 6 ? '::1' : '127.0.0.1');
const lookups = [
  () => undefined, () => undefined, () => undefined,
  () => function syncLoopback(h, o, c) { c(null, loop(o), fam(o)); },
  () => function throws() { throw new Error('lookup threw'); },
  () => function errors(h, o, c) { process.nextTick(c, Object.assign(new Error('lookup failed'), { code: 'ECUSTOM' })); },
  () => function nonError(h, o, c) { process.nextTick(c, 'a string error'); },
  () => function never() {},
  () => function twice(h, o, c) { process.nextTick(() => { c(null, loop(o), fam(o)); c(null, loop(o), fam(o)); }); },
  () => function badAddress(h, o, c) { process.nextTick(c, null, 'not-an-ip', fam(o)); },
  () => function wrongFamily(h, o, c) { process.nextTick(c, null, fam(o) === 6 ? '127.0.0.1' : '::1', fam(o) === 6 ? 4 : 6); },
  () => 'not a function', () => ({}),
];

// ---- the stand-in for dns.lookup ----
const realLookup = dns.lookup;
const ALLOWED = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1', '0.0.0.0', '::']);
dns.lookup = function lookup(hostname, options, callback) {
  if (typeof options === 'function') { callback = options; options = {}; }
  if (typeof hostname === 'string' && hostname !== '' && !ALLOWED.has(hostname)) {
    if (hostname === 'localhost') {
      const f = fam(options);
      process.nextTick(callback, null, f === 6 ? '::1' : '127.0.0.1', f);
      return {};
    }
    const err = Object.assign(new Error('getaddrinfo ENOTFOUND ' + hostname.slice(0, 30)), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname });
    setImmediate(callback, err);
    return {};
  }
  // IP literals of the allowed set, '' and non-strings: the real lookup (validation, nextTick).
  return realLookup.call(dns, hostname, options, callback);
};

process.on('uncaughtException', (e) => out({ ev: 'uncaught', cat: category(e), msg: message(e) }));
process.on('unhandledRejection', (e) => out({ ev: 'unhandledRejection', cat: category(e), msg: message(e) }));
process.on('warning', (w) => out({ ev: 'warning', name: w.name, code: w.code }));
process.on('exit', (code) => process.stdout.write('EXIT ' + code + '\n'));

// ---- the run ----
const dgram = require(mod);
const pool = [];
const controllers = [];
const notSockets = [() => ({}), () => null, () => undefined, () => Object.create(dgram.Socket.prototype), () => new (require('events'))()];

function watch(s, k) {
  s.on('listening', () => { let a; try { const x = s.address(); a = x.address + ' ' + x.family + ' ' + normPort(x.port); } catch (e) { a = category(e); } out({ ev: 'listening', k, a }); });
  s.on('close', () => out({ ev: 'close', k }));
  s.on('connect', () => out({ ev: 'connect', k }));
  s.on('error', (e) => out({ ev: 'error', k, cat: category(e), msg: message(e), address: e && e.address, port: normPort(e && e.port) }));
  s.on('message', (m, r) => out({ ev: 'message', k, size: m.length, from: r.address }));
}

function describeReturn(v, s, op) {
  if (s && v === s) return 'this';
  if (typeof v === 'number' && /BufferSize$/.test(op)) return 'number';
  if (v && typeof v.then === 'function') return 'promise';
  if (v && typeof v === 'object' && 'family' in v) return v.address + ' ' + v.family + ' ' + normPort(v.port);
  return short(v);
}

function createOptions() {
  const r = rnd(8);
  if (r === 0) return anyValue();
  if (r === 1) return objWithGetters([pick([() => 'type', () => 'lookup', () => 'signal', () => 'recvBufferSize', () => 'reuseAddr'])]);
  const o = { type: pick([() => 'udp4', () => 'udp6', () => 'udp4', () => 'udp6', () => 'udp5', () => 'UDP4', () => undefined, () => 4, () => ({})]) };
  if (rnd(3) === 0) o.reuseAddr = pick([() => true, () => false, () => 'yes']);
  if (rnd(4) === 0) o.ipv6Only = pick([() => true, () => false]);
  if (rnd(4) === 0) o.recvBufferSize = pick(sizes);
  if (rnd(4) === 0) o.sendBufferSize = pick(sizes);
  if (rnd(3) === 0) o.lookup = pick(lookups);
  if (rnd(5) === 0) {
    const r2 = rnd(4);
    if (r2 === 0) o.signal = AbortSignal.abort();
    else if (r2 === 1) o.signal = {};
    else { const c = new AbortController(); controllers.push(c); o.signal = c.signal; }
  }
  // No receiveBlockList/sendBlockList: Node 20 (the reference run here) predates them and
  // ignores them, while udpx implements them as later Node versions do.
  return o;
}

function bindArgs() {
  switch (rnd(9)) {
    case 0: return [];
    case 1: return [bindPort()];
    case 2: return [bindPort(), bindAddress()];
    case 3: return [bindPort(), bindAddress(), cb('bind')];
    case 4: return [cb('bind')];
    case 5: return [{ port: bindPort(), address: bindAddress(), exclusive: pick([() => true, () => false, () => undefined]) }, maybeCb()];
    case 6: return [{ fd: pick([() => -1, () => 0, () => 1, () => 2, () => 1000, () => 2 ** 31 - 1, () => NaN, () => '3', () => 1.5]), address: '127.0.0.1' }];
    case 7: return [objWithGetters([pick([() => 'port', () => 'address', () => 'fd', () => 'exclusive'])])];
    default: return [anyValue(), anyValue(), anyValue()];
  }
}

const loopbacks = [() => '127.0.0.1', () => '::1', () => 'localhost', () => undefined, () => '::ffff:127.0.0.1'];
function sendArgs() {
  switch (rnd(12)) {
    case 8: case 9: case 10: return [payload(), P, pick(loopbacks), cb('send')];
    case 11: return [payload(), rnd(3), rnd(70000), P, pick(loopbacks), cb('send')];
    case 0: return [payload(), destPort(), destAddress(), maybeCb()];
    case 1: return [payload(), destPort(), maybeCb()];
    case 2: return [payload(), pick(offsets), pick(offsets), destPort(), destAddress(), maybeCb()];
    case 3: return [payload(), pick(offsets), pick(offsets), destPort(), maybeCb()];
    case 4: return [payload(), maybeCb()];
    case 5: return [payload()];
    case 6: return [payload(), pick(offsets), pick(offsets), maybeCb()];
    default: return Array.from({ length: rnd(7) }, anyValue);
  }
}

const ops = [
  [8, 'createSocket', () => {
    const form = rnd(4);
    const args = form === 0 ? [createOptions()] : form === 1 ? [pick([() => 'udp4', () => 'udp6']), maybeCb()] : form === 2 ? [createOptions(), maybeCb()] : [anyValue()];
    return { args, call: () => {
      const s = dgram.createSocket(...args);
      const k = pool.length;
      pool.push(s);
      watch(s, k);
      return 'socket#' + k;
    } };
  }],
  [2, 'new Socket', () => {
    const args = [pick([() => 'udp4', () => 'udp6', anyValue])];
    return { args, call: () => {
      const s = new dgram.Socket(...args);
      if (s && typeof s.on === 'function') { const k = pool.length; pool.push(s); watch(s, k); return 'socket#' + k; }
      return s;
    } };
  }],
  [12, 'bind', () => ({ args: bindArgs() })],
  [6, 'connect', () => {
    const r = rnd(4);
    return { args: r === 0 ? [destPort(), destAddress(), cb('connect')] : r === 1 ? [destPort(), cb('connect')] : r === 2 ? [destPort(), destAddress()] : [anyValue(), anyValue(), anyValue()] };
  }],
  [3, 'disconnect', () => ({ args: [] })],
  [18, 'send', () => ({ args: sendArgs() })],
  [3, 'sendto', () => ({ args: [payload(), pick(offsets), pick(offsets), destPort(), destAddress(), maybeCb()] })],
  [5, 'close', () => ({ args: rnd(2) ? [cb('close')] : [anyValue()] })],
  [3, 'address', () => ({ args: [] })],
  [2, 'remoteAddress', () => ({ args: [] })],
  [2, 'setBroadcast', () => ({ args: [anyValue()] })],
  [3, 'setTTL', () => ({ args: [pick(ttls)] })],
  [2, 'setMulticastTTL', () => ({ args: [pick(ttls)] })],
  [2, 'setMulticastLoopback', () => ({ args: [anyValue()] })],
  [2, 'setMulticastInterface', () => ({ args: [pick(ifaces)] })],
  [3, 'addMembership', () => { const g = pick(groups); return { args: [g, safeIface(g, pick(ifaces))] }; }],
  [2, 'dropMembership', () => { const g = pick(groups); return { args: [g, safeIface(g, pick(ifaces))] }; }],
  [2, 'addSourceSpecificMembership', () => { const s = pick(sources); const g = pick(groups); return { args: [s, g, safeIface(g, pick(ifaces))] }; }],
  [1, 'dropSourceSpecificMembership', () => { const s = pick(sources); const g = pick(groups); return { args: [s, g, safeIface(g, pick(ifaces))] }; }],
  [2, 'ref', () => ({ args: [] })],
  [2, 'unref', () => ({ args: [] })],
  [2, 'setRecvBufferSize', () => ({ args: [pick(sizes)] })],
  [2, 'setSendBufferSize', () => ({ args: [pick(sizes)] })],
  [1, 'getRecvBufferSize', () => ({ args: [] })],
  [1, 'getSendBufferSize', () => ({ args: [] })],
  [1, 'getSendQueueSize', () => ({ args: [] })],
  [1, 'getSendQueueCount', () => ({ args: [] })],
  [1, 'asyncDispose', () => ({ args: [] })],
  [2, 'wrongReceiver', () => ({ args: [], method: pick([() => 'send', () => 'bind', () => 'close', () => 'address', () => 'setTTL', () => 'addMembership', () => 'ref', () => 'getSendQueueSize']), recv: pick(notSockets) })],
  [1, 'abort', () => ({ args: [] })],
];
const totalWeight = ops.reduce((a, [w]) => a + w, 0);
function chooseOp() {
  let r = rnd(totalWeight);
  for (const op of ops) { if ((r -= op[0]) < 0) return op; }
  return ops[0];
}

// No timers: their order against immediates depends on how long a loop turn took.
const pauses = [
  () => new Promise((r) => process.nextTick(r)),
  () => new Promise((r) => setImmediate(r)),
  () => new Promise((r) => setImmediate(() => setImmediate(r))),
  () => new Promise((r) => setImmediate(() => setImmediate(() => setImmediate(r)))),
];

async function main() {
  // Two sinks on the same port P: 127.0.0.1:P and ::1:P.
  for (let attempt = 0; attempt < 20 && !P; attempt++) {
    const s4 = nodeDgram.createSocket('udp4');
    await new Promise((r) => s4.bind(0, '127.0.0.1', r));
    const port = s4.address().port;
    const s6 = nodeDgram.createSocket({ type: 'udp6', ipv6Only: true });
    const ok = await new Promise((r) => { s6.once('error', () => r(false)); s6.bind(port, '::1', () => r(true)); });
    if (ok) { P = port; globalThis.sinks = [s4, s6]; } else { s4.close(); s6.close(); }
  }
  if (!P) throw new Error('no sink port');
  for (const s of globalThis.sinks) s.on('message', () => {});

  const calls = Number(callsArg);
  const deadline = Date.now() + 10000;
  for (let i = 0; i < calls; i++) {
    if (Date.now() > deadline) { out({ i, deadline: true }); break; }
    if (rnd(8) === 0) {
      const which = rnd(pauses.length);
      out({ i, pause: which });
      await pauses[which]();
      continue;
    }
    const [, op, gen] = chooseOp();
    const target = rnd(Math.max(1, pool.length));
    const spec = gen();
    const s = pool[target];
    const line = { i, op, on: pool.length ? target : 'none', args: spec.args.map(short) };
    let fn;
    if (spec.call) fn = spec.call;
    else if (op === 'wrongReceiver') { line.method = spec.method; line.recv = short(spec.recv); fn = () => dgram.Socket.prototype[spec.method].apply(spec.recv, spec.args); }
    else if (op === 'abort') { const c = controllers[target % Math.max(1, controllers.length)]; fn = () => (c ? (c.abort(), 'aborted') : 'no controller'); }
    else if (!s) fn = () => 'no socket';
    else if (op === 'asyncDispose') fn = () => { const p = s[Symbol.asyncDispose](); p.then(() => out({ ev: 'disposed', k: target }), (e) => out({ ev: 'dispose rejected', k: target, cat: category(e) })); return p; };
    else fn = () => s[op](...spec.args);
    try {
      const v = fn();
      line.ret = describeReturn(v, s, op);
    } catch (e) {
      line.threw = category(e);
      if (messageMatters(e)) line.msg = message(e);
    }
    out(line);
  }
  out({ end: true, sockets: pool.length });
  // Close everything: every socket that is still open, then the sinks.
  for (const [k, s] of pool.entries()) {
    try { s.close(); } catch (e) { out({ finalClose: k, threw: category(e) }); }
  }
  await new Promise((r) => setTimeout(r, 20));
  for (const s of globalThis.sinks) s.close();
}

main().catch((e) => out({ ev: 'main failed', cat: category(e), msg: String(e && e.stack) }));
`;

const childPath = scriptFile('udpx-hostile-', 'child.js', CHILD);

interface Outcome {
  lines: any[];
  exitLine?: string;
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

async function runChild(mod: string, seed: number, calls = CALLS, extraArgs: string[] = []): Promise<Outcome> {
  const r = await runNode([...extraArgs, childPath(), mod, String(seed), String(calls)], DEADLINE_MS);
  const lines: any[] = [];
  let exitLine: string | undefined;
  for (const l of r.stdout.split('\n')) {
    if (l.startsWith('T ')) lines.push(JSON.parse(l.slice(2)));
    else if (l.startsWith('EXIT ')) exitLine = l;
  }
  return { lines, exitLine, exited: r.exited, code: r.code, signal: r.signal, stderr: r.stderr.slice(0, 4000) };
}

// One run per implementation and seed, one after the other (see the header).
const runs = new Map<number, Promise<{ node: Outcome; udpx: Outcome }>>();
let chain: Promise<unknown> = Promise.resolve();
function runsFor(seed: number): Promise<{ node: Outcome; udpx: Outcome }> {
  let p = runs.get(seed);
  if (!p) {
    p = chain.then(async () => {
      const node = await runChild('node:dgram', seed);
      const udpx = await runChild(UDPX, seed);
      return { node, udpx };
    });
    chain = p.catch(() => undefined);
    runs.set(seed, p);
  }
  return p;
}

/** What is compared: everything but error messages. */
function withoutMessages(lines: any[]): any[] {
  return lines.map((l) => {
    const { msg: _msg, ...rest } = l;
    return rest;
  });
}

/** node:dgram crashed (a CHECK failure or another abort): its trace ends there. */
function nodeCrashed(o: Outcome): boolean {
  return o.signal !== null || (o.code !== 0 && o.code !== null);
}

function firstDifference(a: any[], b: any[]): string {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) {
      const ctx = (x: any[]) => x.slice(Math.max(0, i - 3), i + 2).map((l) => JSON.stringify(l)).join('\n    ');
      return `first difference at trace line ${i}:\n  node:dgram:\n    ${ctx(a)}\n  udpx:\n    ${ctx(b)}`;
    }
  }
  return 'no difference';
}

for (const seed of SEEDS) {
  const hex = `0x${seed.toString(16)}`;

  test(`seed ${hex}: udpx survives ${CALLS} hostile calls and exits by itself`, async (t) => {
    const { node, udpx } = await runsFor(seed);
    const info = `udpx: exited=${udpx.exited} code=${udpx.code} signal=${udpx.signal} exitLine=${udpx.exitLine}\nstderr: ${udpx.stderr}`;
    t.true(udpx.exited, `udpx child did not exit by itself\n${info}`);
    t.is(udpx.signal, null, `udpx child died from a signal\n${info}`);
    t.is(udpx.code, 0, info);
    t.is(udpx.exitLine, 'EXIT 0', info);
    t.true(udpx.lines.some((l) => l.end), `udpx child did not reach the end of the sequence\n${info}`);
    if (nodeCrashed(node)) t.log(`node:dgram itself crashed on seed ${hex}: code=${node.code} signal=${node.signal}\n${node.stderr}`);
  });

  test(`seed ${hex}: every call and event has the same outcome as on node:dgram`, async (t) => {
    const { node, udpx } = await runsFor(seed);
    t.true(node.lines.length > CALLS / 2, `the node:dgram run produced a trace\n${node.stderr}`);
    let a = withoutMessages(node.lines);
    let b = withoutMessages(udpx.lines);
    if (nodeCrashed(node)) {
      // Compare what node:dgram got through before it crashed.
      t.log(`node:dgram crashed (code=${node.code} signal=${node.signal}); comparing the first ${a.length} lines`);
      b = b.slice(0, a.length);
    } else {
      t.true(node.exited && node.exitLine === 'EXIT 0', `node:dgram run did not finish cleanly\n${node.stderr}`);
    }
    t.true(JSON.stringify(a) === JSON.stringify(b), firstDifference(a, b));
    a = b = [];
  });

  test(`seed ${hex}: error messages match node:dgram's`, async (t) => {
    const { node, udpx } = await runsFor(seed);
    const msgs = (o: Outcome) => o.lines.filter((l) => l.msg !== undefined).map((l) => ({ i: l.i, ev: l.ev, op: l.op, cat: l.threw ?? l.cat ?? l.err, msg: l.msg }));
    let a = msgs(node);
    let b = msgs(udpx);
    if (nodeCrashed(node)) b = b.slice(0, a.length);
    t.true(JSON.stringify(a) === JSON.stringify(b), firstDifference(a, b));
  });
}

// A custom lookup that yields a non-string address: node:dgram's native send CHECKs that the
// address is a string and aborts the process. udpx must survive (and report an error).
test('a custom lookup yielding a non-string address: udpx survives (node:dgram aborts)', async (t) => {
  const script = (mod: string) => `
    const dgram = require(${JSON.stringify(mod)});
    const s = dgram.createSocket({ type: 'udp4', lookup: (h, o, cb) => cb(null, h === '0.0.0.0' ? '127.0.0.1' : 12345, 4) });
    s.on('error', (e) => console.log('error', e.code));
    s.send('x', 9, 'example', (err) => { console.log('callback', err && err.code); s.close(); });
  `;
  const run = (mod: string) => limited(() =>
    new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['-e', script(mod)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), SCRIPT_MS);
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr: stderr.slice(0, 2000) });
      });
    }));
  const [node, udpx] = await Promise.all([run('node:dgram'), run(UDPX)]);
  t.log(`node:dgram: code=${node.code} signal=${node.signal} ${node.stderr.split('\n').find((l) => /Assertion|CHECK/.test(l)) ?? ''}`);
  t.is(udpx.signal, null, JSON.stringify(udpx));
  t.is(udpx.code, 0, JSON.stringify(udpx));
  t.regex(udpx.stdout, /^(callback|error) /m, JSON.stringify(udpx));
});

// ---- fixed cases: the same script on node:dgram and on udpx, same output expected ----

interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runScript(mod: string, body: string): Promise<ScriptRun> {
  const script = [
    `const dgram = require(${JSON.stringify(mod)});`,
    `const log = (...a) => console.log(a.map((x) => typeof x === 'string' ? x : x === undefined ? 'undefined' : JSON.stringify(x)).join(' '));`,
    `const tryIt = (label, fn) => { try { log(label, 'returned', fn()); } catch (e) { log(label, 'threw', e.name, e.code, e.message); } };`,
    body,
  ].join('\n');
  return limited(() => new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), SCRIPT_MS);
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr: stderr.slice(0, 3000) });
    });
  }));
}

/** Runs `body` on both; udpx must exit cleanly and print what node:dgram printed. */
async function sameOutput(t: any, body: string, expectNode?: string[]): Promise<void> {
  const [node, udpx] = await Promise.all([runScript('node:dgram', body), runScript(UDPX, body)]);
  const info = `node:dgram: ${JSON.stringify(node)}\nudpx: ${JSON.stringify(udpx)}`;
  if (expectNode) t.deepEqual(node.stdout.trim().split('\n'), expectNode, `node:dgram itself\n${info}`);
  t.is(udpx.signal, null, info);
  t.is(udpx.code, 0, info);
  t.deepEqual(udpx.stdout.trim().split('\n'), node.stdout.trim().split('\n'), info);
}

test('hostile buffers sent to loopback: same callback results as node:dgram', async (t) => {
  await sameOutput(
    t,
    `
    const detached = () => { const ab = new ArrayBuffer(16); const v = new Uint8Array(ab, 4, 8); structuredClone(ab, { transfer: [ab] }); return v; };
    const sink = dgram.createSocket('udp4');
    let got = 0;
    sink.on('message', () => got++);
    sink.bind(0, '127.0.0.1', async () => {
      const P = sink.address().port;
      const s = dgram.createSocket('udp4');
      await new Promise((r) => s.bind(0, '127.0.0.1', r));
      const cases = {
        detached: () => detached(), detachedInList: () => [detached(), Buffer.from('z')],
        sharedArrayBuffer: () => new Uint8Array(new SharedArrayBuffer(16)), sharedDataView: () => new DataView(new SharedArrayBuffer(16), 3, 5),
        list1000: () => Array.from({ length: 1000 }, () => Buffer.alloc(8)),
        list1024: () => Array.from({ length: 1024 }, () => Buffer.alloc(1)),
        list1025: () => Array.from({ length: 1025 }, () => Buffer.alloc(1)),
        list2000: () => Array.from({ length: 2000 }, () => Buffer.alloc(1)),
        max: () => Buffer.alloc(65507), maxPlusOne: () => Buffer.alloc(65508), b70000: () => Buffer.alloc(70000),
        float64: () => new Float64Array(3), empty: () => Buffer.alloc(0), emptyList: () => [], nulString: () => 'h\\u00e9llo\\0',
        offsetPastEnd: () => [Buffer.alloc(4), 5, 1], lengthPastEnd: () => [Buffer.alloc(4), 1, 4], hugeOffset: () => [Buffer.alloc(4), 2 ** 32 + 1, 1],
      };
      for (const [name, mk] of Object.entries(cases)) {
        const r = await new Promise((res) => {
          try {
            const v = mk();
            const args = Array.isArray(v) && typeof v[1] === 'number' ? [v[0], v[1], v[2], P, '127.0.0.1'] : [v, P, '127.0.0.1'];
            s.send(...args, (e, n) => res(e ? e.code : n));
          } catch (e) { res('threw ' + e.name + ' ' + e.code + ' ' + e.message); }
        });
        log(name, r);
      }
      setTimeout(() => { log('sink got', got); s.close(); sink.close(); }, 100);
    });`,
  );
});

// libuv's uv_udp_set_membership binds an unbound socket (0.0.0.0 / ::, port 0) as soon as
// the group parses, before it looks at the interface; a bad interface then fails with
// EINVAL, but the socket keeps its descriptor and later calls see a bound socket.
test('addMembership/dropMembership with a valid group and a bad interface: the socket is bound first (libuv order)', async (t) => {
  await sameOutput(
    t,
    `
    for (const m of ['addMembership', 'dropMembership']) {
      const s = dgram.createSocket('udp4');
      tryIt(m, () => s[m]('224.0.0.114', 'not-an-interface'));
      tryIt('address', () => { const a = s.address(); return a.address + ' ' + a.family + ' ' + (a.port > 0); });
      tryIt('setTTL', () => s.setTTL(9));
      s.close();
    }`,
    [
      'addMembership threw Error EINVAL addMembership EINVAL',
      'address returned 0.0.0.0 IPv4 true',
      'setTTL returned 9',
      'dropMembership threw Error EINVAL dropMembership EINVAL',
      'address returned 0.0.0.0 IPv4 true',
      'setTTL returned 9',
    ],
  );
});

// node:dgram hands the value to C++, which converts it with ToString: a Symbol throws. From
// Node 22 the group's exception is dropped and the call fails with EINVAL (see
// versions.membershipGroupToStringDeferred); the interface's still propagates.
const symbolGroup = (call: string, label: string) =>
  versions.membershipGroupToStringDeferred
    ? `${label} threw Error EINVAL ${call} EINVAL`
    : `${label} threw TypeError undefined Cannot convert a Symbol value to a string`;
test('a Symbol as multicast or interface address throws as node:dgram of this Node does', async (t) => {
  await sameOutput(
    t,
    `
    const s = dgram.createSocket('udp4');
    tryIt('group', () => s.addMembership(Symbol('g')));
    tryIt('drop group', () => s.dropMembership(Symbol('g')));
    tryIt('interface', () => s.addMembership('224.0.0.114', Symbol('i')));
    tryIt('ssm interface', () => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1', Symbol('i')));
    s.close();`,
    [
      symbolGroup('addMembership', 'group'),
      symbolGroup('dropMembership', 'drop group'),
      'interface threw TypeError undefined Cannot convert a Symbol value to a string',
      'ssm interface threw TypeError undefined Cannot convert a Symbol value to a string',
    ],
  );
});

// node:dgram passes addresses to libuv as C strings: parsing stops at the first NUL.
test('multicast and interface addresses with an embedded NUL are read up to the NUL, as node:dgram', async (t) => {
  await sameOutput(
    t,
    `
    const s = dgram.createSocket('udp4');
    tryIt('join', () => s.addMembership('224.0.0.114\\0junk', '127.0.0.1'));
    tryIt('leave', () => s.dropMembership('224.0.0.114', '127.0.0.1\\0junk'));
    tryIt('interface', () => s.setMulticastInterface('127.0.0.1\\0junk'));
    s.close();`,
    ['join returned undefined', 'leave returned undefined', 'interface returned undefined'],
  );
});

// libuv: "Cannot set IPv6-only mode on non-IPv6 socket" -> EINVAL.
test('ipv6Only on a udp4 socket: bind fails with EINVAL, as node:dgram', async (t) => {
  await sameOutput(
    t,
    `
    const s = dgram.createSocket({ type: 'udp4', ipv6Only: true });
    s.on('error', (e) => { log('error', e.code, e.syscall, e.message); s.close(); });
    s.bind(0, '127.0.0.1', () => { log('listening'); s.close(); });`,
    ['error EINVAL bind bind EINVAL 127.0.0.1'],
  );
});

// node's UDPWrap::BufferSize rejects sizes that are not int32 with EINVAL.
test('set{Recv,Send}BufferSize above INT32_MAX fails with ERR_SOCKET_BUFFER_SIZE (EINVAL), as node:dgram', async (t) => {
  await sameOutput(
    t,
    `
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      for (const n of [2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1]) {
        for (const m of ['setRecvBufferSize', 'setSendBufferSize']) tryIt(m + ' ' + n, () => s[m](n));
      }
      s.close();
    });`,
    [
      'setRecvBufferSize 2147483647 returned undefined',
      'setSendBufferSize 2147483647 returned undefined',
      'setRecvBufferSize 2147483648 threw SystemError ERR_SOCKET_BUFFER_SIZE Could not get or set buffer size: uv_recv_buffer_size returned EINVAL (invalid argument)',
      'setSendBufferSize 2147483648 threw SystemError ERR_SOCKET_BUFFER_SIZE Could not get or set buffer size: uv_send_buffer_size returned EINVAL (invalid argument)',
      'setRecvBufferSize 4294967295 threw SystemError ERR_SOCKET_BUFFER_SIZE Could not get or set buffer size: uv_recv_buffer_size returned EINVAL (invalid argument)',
      'setSendBufferSize 4294967295 threw SystemError ERR_SOCKET_BUFFER_SIZE Could not get or set buffer size: uv_send_buffer_size returned EINVAL (invalid argument)',
    ],
  );
});

// A udp6 socket that joined an IPv4 group got an AF_INET descriptor from the deferred bind
// (libuv does the same); binding it to an IPv6 address then fails. libuv maps the kernel's
// EAFNOSUPPORT to EINVAL.
test('bind of a udp6 socket whose descriptor an IPv4 join created: EINVAL, as node:dgram', async (t) => {
  await sameOutput(
    t,
    `
    const s = dgram.createSocket('udp6');
    s.addMembership('224.0.0.114', '127.0.0.1');
    s.on('error', (e) => { log('error', e.code, e.syscall, e.message); s.close(); });
    s.bind(0, '::1', () => { log('listening'); s.close(); });`,
    ['error EINVAL bind bind EINVAL ::1'],
  );
});

// libuv refuses to connect a handle that is connected (UV_EISCONN); reachable through a
// lookup that calls back twice.
test('a lookup that calls back twice: the second connect fails with EISCONN, as node:dgram', async (t) => {
  await sameOutput(
    t,
    `
    const c = dgram.createSocket({ type: 'udp4', lookup: (h, o, cb) => process.nextTick(() => { cb(null, '127.0.0.1', 4); cb(null, '127.0.0.1', 4); }) });
    c.on('error', (e) => log('error', e.code, e.syscall));
    c.on('connect', () => log('connect event'));
    const r = dgram.createSocket('udp4');
    r.bind(0, '127.0.0.1', () => {
      c.connect(r.address().port, '127.0.0.1', (err) => log('connect callback', err && err.code));
      setTimeout(() => { c.close(); r.close(); }, 50);
    });`,
    ['error EINVAL bind', 'connect event', 'connect callback undefined', 'connect callback EISCONN'],
  );
});

// node:dgram's bind() first checks for a handle object (options.recvStart), then fd,
// address, exclusive, port: observable through getters.
test('bind(options) reads the options in node:dgram\'s order', async (t) => {
  await sameOutput(
    t,
    `
    const seen = [];
    const opts = new Proxy({ port: 0, address: '127.0.0.1' }, { get(o, k) { seen.push(String(k)); return o[k]; } });
    const s = dgram.createSocket('udp4');
    s.bind(opts, () => { log(seen.join(',')); s.close(); });`,
    ['recvStart,fd,address,exclusive,port'],
  );
});

// node:dgram converts whatever a custom lookup yields with ToString in C++ for bind and
// connect, so a number becomes an address that does not parse: EINVAL, reported as usual.
test('a custom lookup yielding a number for bind and connect: EINVAL error and callback, as node:dgram', async (t) => {
  await sameOutput(
    t,
    `
    const b = dgram.createSocket({ type: 'udp4', lookup: (h, o, cb) => cb(null, 12345, 4) });
    b.on('error', (e) => { log('bind error event', e.code, e.syscall, e.message); b.close(); });
    b.bind(0, 'somewhere', () => { log('listening'); b.close(); });
    const c = dgram.createSocket({ type: 'udp4', lookup: (h, o, cb) => cb(null, h === '0.0.0.0' ? '127.0.0.1' : 12345, 4) });
    c.on('error', (e) => log('connect error event', e.code));
    c.connect(9, 'somewhere', (e) => { log('connect callback', e && e.code, e && e.syscall); c.close(); });`,
    ['bind error event EINVAL bind bind EINVAL 12345', 'connect callback EINVAL connect'],
  );
});
