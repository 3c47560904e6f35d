// The node:dgram API on udpx: each item exercised on real loopback sockets.

import test from 'ava';
import { Buffer } from 'node:buffer';
import { BlockList } from 'node:net';
import { refusedByEmulator, testUnless } from './capabilities';
import { bound, closeAll, nodeCommand, once, udpx } from './helpers';

test('createSocket: Socket instance, type, and the callback as a message listener', async (t) => {
  const got: string[] = [];
  const rx = udpx.createSocket('udp4', (msg) => got.push(msg.toString()));
  t.true(rx instanceof udpx.Socket);
  t.is((rx as any).type, 'udp4');
  t.is(rx.listenerCount('message'), 1);
  rx.bind(0, '127.0.0.1');
  await once(rx, 'listening');
  const tx = udpx.createSocket('udp4');
  tx.send('hi', rx.address().port, '127.0.0.1');
  await once(rx, 'message');
  t.deepEqual(got, ['hi']);
  await closeAll(rx, tx);
});

test('bad socket types throw ERR_SOCKET_BAD_TYPE', (t) => {
  for (const type of ['udp', 'tcp4', undefined, 4, {}]) {
    t.throws(() => udpx.createSocket(type as any), { code: 'ERR_SOCKET_BAD_TYPE', instanceOf: TypeError });
  }
});

test('rinfo carries address, family, port and size; every payload type sends', async (t) => {
  const rx = await bound();
  const tx = await bound();
  const port = rx.address().port;
  const payloads: Array<[any, string]> = [
    [Buffer.from('buf'), 'buf'],
    ['str', 'str'],
    [new Uint8Array([65, 66]), 'AB'],
    [new DataView(new Uint8Array([100, 118]).buffer), 'dv'],
    [[Buffer.from('a'), 'b', new Uint8Array([99])], 'abc'],
    [new Uint16Array([0x4847]), 'GH'],
  ];
  const seen: string[] = [];
  rx.on('message', (msg, rinfo) => {
    seen.push(msg.toString('latin1'));
    t.deepEqual(Object.keys(rinfo), ['address', 'family', 'port', 'size']);
    t.is(rinfo.address, '127.0.0.1');
    t.is(rinfo.family, 'IPv4');
    t.is(rinfo.port, tx.address().port);
    t.is(rinfo.size, msg.length);
  });
  for (const [p] of payloads) tx.send(p, port, '127.0.0.1');
  const deadline = Date.now() + 2000;
  while (seen.length < payloads.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(seen, payloads.map(([, s]) => s));
  await closeAll(rx, tx);
});

test('send with offset and length sends the slice; callback gets (null, bytes) on a later tick', async (t) => {
  const rx = await bound();
  const tx = udpx.createSocket('udp4');
  let sync = true;
  const sent = new Promise<[any, number]>((resolve) => {
    tx.send(Buffer.from('0123456789'), 2, 3, rx.address().port, '127.0.0.1', (err, n) => {
      t.false(sync);
      resolve([err, n]);
    });
  });
  sync = false;
  const [err, n] = await sent;
  t.is(err, null);
  t.is(n, 3);
  const [msg] = await once<[Buffer]>(rx, 'message');
  t.is(msg.toString(), '234');
  await closeAll(rx, tx);
});

test('zero-length datagrams arrive as empty buffers', async (t) => {
  const rx = await bound();
  const tx = await bound();
  tx.send(Buffer.alloc(0), rx.address().port, '127.0.0.1');
  const [msg, rinfo] = await once<[Buffer, any]>(rx, 'message');
  t.is(msg.length, 0);
  t.is(rinfo.size, 0);
  await closeAll(rx, tx);
});

test('EMSGSIZE reaches the send callback with address and port', async (t) => {
  const tx = await bound();
  const [err] = await new Promise<any[]>((resolve) => tx.send(Buffer.alloc(70000), 9, '127.0.0.1', (...a) => resolve(a)));
  t.is(err.code, 'EMSGSIZE');
  t.is(err.syscall, 'send');
  t.is(err.address, '127.0.0.1');
  t.is(err.port, 9);
  t.is(err.message, 'send EMSGSIZE 127.0.0.1:9');
  await closeAll(tx);
});

test('IPv6 to ::1 and IPv4-mapped traffic on a udp6 socket', async (t) => {
  const rx = udpx.createSocket('udp6');
  rx.bind(0, '::');
  await once(rx, 'listening');
  const port = rx.address().port;
  const tx6 = await bound('udp6');
  tx6.send('six', port, '::1');
  const [m6, r6] = await once<[Buffer, any]>(rx, 'message');
  t.is(m6.toString(), 'six');
  t.is(r6.address, '::1');
  t.is(r6.family, 'IPv6');
  const tx4 = await bound('udp4');
  tx4.send('four', port, '127.0.0.1');
  const [m4, r4] = await once<[Buffer, any]>(rx, 'message');
  t.is(m4.toString(), 'four');
  t.is(r4.address, '::ffff:127.0.0.1');
  t.is(r4.family, 'IPv6');
  await closeAll(rx, tx6, tx4);
});

test('connect, remoteAddress, send without address, disconnect', async (t) => {
  const rx = await bound();
  const tx = udpx.createSocket('udp4');
  const port = rx.address().port;
  tx.connect(port, '127.0.0.1');
  await once(tx, 'connect');
  t.deepEqual(tx.remoteAddress(), { address: '127.0.0.1', family: 'IPv4', port });
  t.throws(() => tx.send(Buffer.from('x'), 0, 1, port), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
  t.throws(() => tx.connect(port), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
  tx.send('conn');
  const [msg] = await once<[Buffer]>(rx, 'message');
  t.is(msg.toString(), 'conn');
  tx.disconnect();
  t.throws(() => tx.remoteAddress(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
  t.throws(() => tx.disconnect(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
  await closeAll(rx, tx);
});

test('bind errors: EADDRINUSE with errno, syscall, address, port', async (t) => {
  const a = await bound();
  const port = a.address().port;
  const b = udpx.createSocket('udp4');
  b.bind(port, '127.0.0.1');
  const [err] = await once<[any]>(b, 'error');
  t.is(err.code, 'EADDRINUSE');
  t.is(err.errno, -98);
  t.is(err.syscall, 'bind');
  t.is(err.address, '127.0.0.1');
  t.is(err.port, port);
  t.is(err.message, `bind EADDRINUSE 127.0.0.1:${port}`);
  t.throws(() => a.bind(0), { code: 'ERR_SOCKET_ALREADY_BOUND' });
  await closeAll(a, b);
});

test('reuseAddr lets two sockets share a port; reusePort does too', async (t) => {
  for (const opt of ['reuseAddr', 'reusePort'] as const) {
    const a = await bound('udp4', { [opt]: true } as any);
    const b = udpx.createSocket({ type: 'udp4', [opt]: true } as any);
    b.bind(a.address().port, '127.0.0.1');
    await once(b, 'listening');
    t.is(b.address().port, a.address().port);
    await closeAll(a, b);
  }
});

test('close: callback and event on the next tick; closed sockets throw ERR_SOCKET_DGRAM_NOT_RUNNING', async (t) => {
  const s = await bound();
  const order: string[] = [];
  s.on('close', () => order.push('event'));
  s.close(() => order.push('callback'));
  order.push('sync');
  await once(s, 'close').catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(order, ['sync', 'event', 'callback']);
  t.throws(() => s.close(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  t.throws(() => s.address(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  t.throws(() => s.send('x', 1, '127.0.0.1'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
});

test('Symbol.asyncDispose closes the socket', async (t) => {
  const s = await bound();
  let closed = false;
  s.on('close', () => { closed = true; });
  await (s as any)[Symbol.asyncDispose]();
  t.true(closed);
  await t.notThrowsAsync(() => (s as any)[Symbol.asyncDispose]());
});

test('an AbortSignal closes the socket, even one aborted before creation', async (t) => {
  const ac = new AbortController();
  const s = udpx.createSocket({ type: 'udp4', signal: ac.signal });
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  ac.abort();
  await once(s, 'close');
  t.throws(() => s.address(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  const pre = udpx.createSocket({ type: 'udp4', signal: AbortSignal.abort() });
  await once(pre, 'close');
  t.pass();
});

test('the lookup option is called as node:dgram calls it', async (t) => {
  const calls: any[] = [];
  const lookup = (host: string, opts: any, cb: (e: any, a: string, f: number) => void) => {
    calls.push([host, opts, typeof cb]);
    process.nextTick(cb, null, '127.0.0.1', 4);
  };
  const rx = await bound();
  const tx = udpx.createSocket({ type: 'udp4', lookup } as any);
  tx.send('via lookup', rx.address().port, 'example.test');
  const [msg] = await once<[Buffer]>(rx, 'message');
  t.is(msg.toString(), 'via lookup');
  t.deepEqual(calls, [['0.0.0.0', 4, 'function'], ['example.test', 4, 'function']]);
  t.throws(() => udpx.createSocket({ type: 'udp4', lookup: 'nope' } as any), { code: 'ERR_INVALID_ARG_TYPE' });
  await closeAll(rx, tx);
});

test('lookup errors go to the send callback, or to error without one', async (t) => {
  // Fails for names, passes IP literals through (the implicit bind looks up 0.0.0.0).
  const fail = (h: string, _o: any, cb: (e: any, a?: string, f?: number) => void) => {
    if (h === '0.0.0.0') return process.nextTick(cb, null, h, 4);
    const e: any = new Error('getaddrinfo ENOTFOUND nowhere.test');
    e.code = 'ENOTFOUND';
    process.nextTick(cb, e);
  };
  const s = udpx.createSocket({ type: 'udp4', lookup: fail } as any);
  s.on('error', () => undefined);
  const [err] = await new Promise<any[]>((r) => s.send('x', 1, 'nowhere.test', (...a) => r(a)));
  t.is(err.code, 'ENOTFOUND');
  s.close();
});

test('buffer sizes: options, setters and getters; ERR_SOCKET_BUFFER_SIZE before bind', async (t) => {
  const before = udpx.createSocket('udp4');
  const err = t.throws(() => before.getRecvBufferSize(), { code: 'ERR_SOCKET_BUFFER_SIZE' }) as any;
  t.is(err.name, 'SystemError');
  t.is(err.syscall, 'uv_recv_buffer_size');
  t.is(err.info.code, 'EBADF');
  t.throws(() => before.setSendBufferSize(-1), { code: 'ERR_SOCKET_BAD_BUFFER_SIZE' });
  before.close();
  const s = await bound('udp4', { recvBufferSize: 65536, sendBufferSize: 32768 });
  t.is(s.getRecvBufferSize(), 131072);
  t.is(s.getSendBufferSize(), 65536);
  s.setRecvBufferSize(16384);
  t.is(s.getRecvBufferSize(), 32768);
  await closeAll(s);
});

testUnless(refusedByEmulator('multicastInterface'), 'option setters: values, return values and EBADF before bind', async (t) => {
  const fresh = udpx.createSocket('udp4');
  for (const f of [() => fresh.setTTL(5), () => fresh.setBroadcast(true), () => fresh.setMulticastTTL(2),
    () => fresh.setMulticastLoopback(true)]) {
    t.throws(f, { code: 'EBADF' });
  }
  fresh.close();
  const s = await bound();
  t.is(s.setTTL(64), 64);
  t.is(s.setMulticastTTL(3), 3);
  t.is(s.setMulticastLoopback(false as any), false);
  t.notThrows(() => s.setBroadcast(true));
  t.throws(() => s.setTTL(0), { code: 'EINVAL', message: 'setTTL EINVAL' });
  t.throws(() => s.setTTL(256), { code: 'EINVAL' });
  t.throws(() => s.setTTL('1' as any), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => s.setMulticastTTL(256), { code: 'EINVAL' });
  t.notThrows(() => s.setMulticastInterface('127.0.0.1'));
  t.throws(() => s.setMulticastInterface('not an ip'), { code: 'EINVAL' });
  await closeAll(s);
});

testUnless(refusedByEmulator('multicastInterface'), 'multicast membership on loopback: join, receive, drop', async (t) => {
  const rx = udpx.createSocket({ type: 'udp4', reuseAddr: true });
  rx.bind(0);
  await once(rx, 'listening');
  rx.addMembership('239.255.0.77', '127.0.0.1');
  const tx = await bound();
  tx.setMulticastInterface('127.0.0.1');
  tx.send('group', rx.address().port, '239.255.0.77');
  const [msg] = await once<[Buffer]>(rx, 'message');
  t.is(msg.toString(), 'group');
  rx.dropMembership('239.255.0.77', '127.0.0.1');
  t.throws(() => rx.dropMembership('239.255.0.77', '127.0.0.1'), { code: 'EADDRNOTAVAIL' });
  t.throws(() => rx.addMembership(''), { code: 'ERR_MISSING_ARGS' });
  t.throws(() => rx.addSourceSpecificMembership(1 as any, '232.1.1.1'), { code: 'ERR_INVALID_ARG_TYPE' });
  await closeAll(rx, tx);
});

test('ref and unref return the socket; getSendQueueSize/Count are 0 when the kernel takes every send', async (t) => {
  const s = await bound();
  t.is(s.unref(), s);
  t.is(s.ref(), s);
  s.send('x', s.address().port, '127.0.0.1');
  t.is(s.getSendQueueSize(), 0);
  t.is(s.getSendQueueCount(), 0);
  await closeAll(s);
});

test('sends before listening are queued and flushed in order', async (t) => {
  const rx = await bound();
  const tx = udpx.createSocket('udp4');
  const order: string[] = [];
  tx.on('listening', () => order.push('listening'));
  for (const m of ['1', '2', '3']) tx.send(m, rx.address().port, '127.0.0.1', () => order.push(`cb${m}`));
  const got: string[] = [];
  rx.on('message', (m) => got.push(m.toString()));
  const deadline = Date.now() + 2000;
  while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(got, ['1', '2', '3']);
  t.deepEqual(order, ['listening', 'cb1', 'cb2', 'cb3']);
  await closeAll(rx, tx);
});

test('sendBlockList refuses blocked destinations with ERR_IP_BLOCKED', async (t) => {
  const list = new BlockList();
  list.addAddress('127.0.0.1');
  const rx = await bound();
  const tx = udpx.createSocket({ type: 'udp4', sendBlockList: list } as any);
  const [err] = await new Promise<any[]>((r) => tx.send('x', rx.address().port, '127.0.0.1', (...a) => r(a)));
  t.is(err.code, 'ERR_IP_BLOCKED');
  t.is(err.message, 'IP(127.0.0.1) is blocked by net.BlockList');
  tx.connect(rx.address().port, '127.0.0.1');
  const [cerr] = await once<[any]>(tx, 'error');
  t.is(cerr.code, 'ERR_IP_BLOCKED');
  t.throws(() => udpx.createSocket({ type: 'udp4', sendBlockList: {} } as any), { code: 'ERR_INVALID_ARG_TYPE' });
  await closeAll(rx, tx);
});

test('receiveBlockList drops datagrams from blocked sources', async (t) => {
  const list = new BlockList();
  list.addAddress('127.0.0.2');
  const rx = await bound('udp4', { receiveBlockList: list } as any);
  const blocked = udpx.createSocket('udp4');
  blocked.bind(0, '127.0.0.2');
  await once(blocked, 'listening');
  const allowed = await bound();
  const got: string[] = [];
  rx.on('message', (m) => got.push(m.toString()));
  blocked.send('blocked', rx.address().port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 50));
  allowed.send('allowed', rx.address().port, '127.0.0.1');
  await once(rx, 'message');
  t.deepEqual(got, ['allowed']);
  await closeAll(rx, blocked, allowed);
});

test('the package loads by name with require and with import', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const root = require('node:path').resolve(__dirname, '..', '..');
  const cjs = execFileSync(...nodeCommand(['-e', "const u = require('udpx'); process.stdout.write(typeof u.createSocket + ' ' + typeof u.Socket)"]), { cwd: root, encoding: 'utf8' });
  t.is(cjs, 'function function');
  const esm = execFileSync(...nodeCommand(['--input-type=module', '-e',
    "import udpx, { createSocket, Socket } from 'udpx'; process.stdout.write([typeof createSocket, typeof Socket, udpx.createSocket === createSocket].join(' '))"]),
  { cwd: root, encoding: 'utf8' });
  t.is(esm, 'function function true');
});
