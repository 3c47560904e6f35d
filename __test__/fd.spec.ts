// bind({ fd }): adopting an existing descriptor.
//
// Where the UDP descriptor comes from: a node:dgram socket bound in this process, whose
// descriptor is read from its UDP handle's `fd` (what the deprecated `socket._handle.fd`
// returns, DEP0112; read through the socket's state symbol to avoid the warning). It is passed to a child process as its fd 3 through spawn's stdio array, so the
// child owns a duplicate of its own; this process closes its socket right after spawn()
// returns (by then the child holds the duplicate), so only the child reads from it. The
// child runs once on udpx and once on node:dgram and prints a trace that must match.
//
// Non-UDP descriptors and the values that are not descriptors (fd: 0, -1, ...) are tried
// in this process, on both implementations side by side.

import test from 'ava';
import { execFileSync, spawn } from 'child_process';
import * as dgram from 'node:dgram';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { scriptFile } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const udpx = require(path.resolve(__dirname, '../index.js')) as typeof dgram;
const UDPX = path.resolve(__dirname, '../index.js');
const DEADLINE_MS = 15000;

type Impl = 'node' | 'udpx';

// argv: impl module, scenario. fd 3 is a UDP socket (udp4 on 127.0.0.1 or udp6 on ::1).
const CHILD = String.raw`
'use strict';
const fs = require('fs');
const [mod, scenario, portArg] = process.argv.slice(2);
const expectedPort = Number(portArg); // the port the descriptor was bound to in the parent
const dgram = require(mod);
const trace = [];
const log = (...a) => trace.push(a.map((x) => typeof x === 'string' ? x : JSON.stringify(x)).join(' '));
const finish = () => process.stdout.write('RESULT ' + JSON.stringify(trace) + '\n');
const fd3Open = () => fs.existsSync('/proc/self/fd/3');
const errStr = (e) => e ? [e.name, e.code, e.syscall, e.message].join('|') : String(e);

function watch(name, s) {
  s.on('listening', () => log(name, 'listening event'));
  s.on('error', (e) => log(name, 'error event', errStr(e)));
  s.on('close', () => log(name, 'close event'));
}

/** Adopts fd 3 (address() must be the parent's address), exchanges a datagram each way with a client socket, closes. */
function roundTrip(type, loop) {
  const s = dgram.createSocket(type);
  watch('s', s);
  log('bind returned this', s.bind({ fd: 3 }, () => log('s', 'bind callback')) === s);
  const a = s.address();
  log('address', a.address, a.family, a.port === expectedPort);
  s.on('message', (m, r) => {
    log('s got', String(m), r.address, r.family, r.size);
    s.send('echo:' + m, r.port, r.address, (err, n) => log('s sent', errStr(err), n));
  });
  const c = dgram.createSocket(type);
  c.on('message', (m, r) => {
    log('c got', String(m), r.address, r.port === a.port);
    c.close();
    s.close(() => { log('fd 3 open after close', fd3Open()); });
  });
  c.send('hello', a.port, loop, (err, n) => log('c sent', errStr(err), n));
}

const scenarios = {
  adopt4() { log('fd 3 open', fd3Open()); roundTrip('udp4', '127.0.0.1'); },
  adopt6() { roundTrip('udp6', '::1'); },

  // A udp6 descriptor given to a udp4 socket: node:dgram does not check the family.
  mismatch() {
    const s = dgram.createSocket('udp4');
    watch('s', s);
    try { s.bind({ fd: 3 }); log('bound'); } catch (e) { log('bind threw', errStr(e)); }
    try { const a = s.address(); log('address', a.address, a.family, a.port === expectedPort); } catch (e) { log('address threw', errStr(e)); }
    s.send('x', 9, '127.0.0.1', (err) => {
      log('send to 127.0.0.1', errStr(err));
      s.close(() => log('fd 3 open after close', fd3Open()));
    });
  },

  // The same descriptor adopted twice in one process: node:dgram refuses the second
  // (libuv: EEXIST, the descriptor is already on the loop). If both owned it, closing the
  // second would close whatever descriptor took number 3 after the first was closed.
  twice() {
    const s1 = dgram.createSocket('udp4');
    const s2 = dgram.createSocket('udp4');
    watch('s1', s1);
    watch('s2', s2);
    try { s1.bind({ fd: 3 }); log('s1 bound'); } catch (e) { log('s1 threw', errStr(e)); }
    try { s2.bind({ fd: 3 }); log('s2 bound'); } catch (e) { log('s2 threw', errStr(e)); }
    s1.close(() => {
      log('fd 3 open after s1 close', fd3Open());
      const file = fs.openSync(__filename, 'r'); // takes the lowest free number: 3
      log('file got fd 3', file === 3);
      try { s2.close(); log('s2 closed'); } catch (e) { log('s2 close threw', errStr(e)); }
      setImmediate(() => {
        let ok;
        try { fs.fstatSync(file); ok = true; } catch (e) { ok = e.code; }
        log('file descriptor still valid', ok);
        try { fs.closeSync(file); } catch {}
      });
    });
  },

  // bind({ fd }) on a socket that is already bound, and on a closed socket.
  states() {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      try { s.bind({ fd: 3 }); log('rebind ok'); } catch (e) { log('rebind threw', errStr(e)); }
      s.close(() => {
        try { s.bind({ fd: 3 }); log('closed bind ok'); } catch (e) { log('closed bind threw', errStr(e)); }
        log('fd 3 still open (never adopted)', fd3Open());
      });
    });
  },
};

scenarios[scenario]();
process.on('exit', finish);
`;

const childPath = scriptFile('udpx-fd-', 'child.js', CHILD);

/** A node:dgram socket bound on loopback, and its descriptor. */
function udpDescriptor(type: 'udp4' | 'udp6'): Promise<{ sock: dgram.Socket; fd: number; port: number }> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(type);
    sock.once('error', reject);
    sock.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', () => {
      // = sock._handle.fd (DEP0112), without the deprecation warning.
      const fd = (sock as any)[Object.getOwnPropertySymbols(sock).find((s) => String(s) === 'Symbol(state symbol)')!].handle.fd;
      resolve({ sock, fd, port: sock.address().port });
    });
  });
}

interface Outcome {
  trace?: string[];
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

async function runChild(impl: Impl, scenario: string, type: 'udp4' | 'udp6'): Promise<Outcome & { port: number }> {
  const { sock, fd, port } = await udpDescriptor(type);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [childPath(), impl === 'udpx' ? UDPX : 'node:dgram', scenario, String(port)], {
      stdio: ['ignore', 'pipe', 'pipe', fd],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    sock.close(); // the child has its own duplicate now
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, DEADLINE_MS);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      resolve({ trace: line ? JSON.parse(line.slice(7)) : undefined, exited: !killed, code, signal, stderr, port });
    });
  });
}

async function both(scenario: string, type: 'udp4' | 'udp6') {
  const [node, udpx] = await Promise.all([runChild('node', scenario, type), runChild('udpx', scenario, type)]);
  const info = `node: ${JSON.stringify(node, null, 1)}\nudpx: ${JSON.stringify(udpx, null, 1)}`;
  for (const o of [node, udpx]) {
    if (!o.exited || o.signal !== null || o.code !== 0 || !o.trace) throw new Error(`child did not finish cleanly\n${info}`);
  }
  return { node: node.trace!, udpx: udpx.trace!, info };
}

test('bind({ fd }) adopts a udp4 descriptor: listening, address(), receive and send, close closes it', async (t) => {
  const { node, udpx, info } = await both('adopt4', 'udp4');
  t.deepEqual(
    node,
    [
      'fd 3 open true',
      // 'listening' is emitted synchronously from bind() for an adopted descriptor.
      's listening event',
      's bind callback',
      'bind returned this true',
      'address 127.0.0.1 IPv4 true',
      'c sent null 5',
      's got hello 127.0.0.1 IPv4 5',
      's sent null 10',
      'c got echo:hello 127.0.0.1 true',
      's close event',
      'fd 3 open after close false',
    ],
    info,
  );
  t.deepEqual(udpx, node, info);
});

test('bind({ fd }) adopts a udp6 descriptor', async (t) => {
  const { node, udpx, info } = await both('adopt6', 'udp6');
  t.true(node.includes('address ::1 IPv6 true'), info);
  t.true(node.includes('c got echo:hello ::1 true'), info);
  t.deepEqual(udpx, node, info);
});

test('bind({ fd }) with a udp6 descriptor on a udp4 socket behaves as node:dgram', async (t) => {
  const { node, udpx, info } = await both('mismatch', 'udp6');
  t.true(node.includes('address ::1 IPv6 true'), info);
  t.deepEqual(udpx, node, info);
});

test('bind({ fd }) of a descriptor another socket already adopted throws EEXIST (no double ownership)', async (t) => {
  const { node, udpx, info } = await both('twice', 'udp4');
  t.true(node.includes('s2 threw Error|EEXIST|open|open EEXIST'), info);
  t.true(node.includes('file descriptor still valid true'), info);
  t.deepEqual(udpx, node, info);
});

test('bind({ fd }) on a bound socket or a closed socket throws as node:dgram does', async (t) => {
  const { node, udpx, info } = await both('states', 'udp4');
  t.deepEqual(
    node,
    [
      'rebind threw Error|ERR_SOCKET_ALREADY_BOUND||Socket is already bound',
      'closed bind threw Error|ERR_SOCKET_DGRAM_NOT_RUNNING||Not running',
      'fd 3 still open (never adopted) true',
    ],
    info,
  );
  t.deepEqual(udpx, node, info);
});

// ---- non-UDP descriptors, in this process ----

interface Attempt {
  threw?: { name: string; code: unknown; message: string; ctor: string };
  rebind?: string;
  events: string[];
}

/** bind(options) on a fresh socket; then, if it threw, whether the socket is still usable. */
function attempt(impl: typeof dgram, options: any): Promise<Attempt> {
  return new Promise((resolve) => {
    const s = impl.createSocket('udp4');
    const out: Attempt = { events: [] };
    s.on('error', (e: any) => out.events.push(`error ${e.code}`));
    s.on('listening', () => {
      const a = s.address();
      out.events.push(`listening ${a.address} ${a.family} ${a.port > 0}`);
    });
    try {
      s.bind(options);
    } catch (e: any) {
      out.threw = { name: e.name, code: e.code, message: e.message, ctor: e.constructor.name };
      try {
        s.bind(0, '127.0.0.1');
        out.rebind = 'ok';
      } catch (e2: any) {
        out.rebind = e2.code;
      }
    }
    // Lets a normal (asynchronous) bind finish before comparing.
    setTimeout(() => s.close(() => resolve(out)), 30);
  });
}

async function compare(t: any, label: string, options: any): Promise<Attempt> {
  const n = await attempt(dgram, options);
  const u = await attempt(udpx, options);
  t.deepEqual(u, n, `${label}: udpx ${JSON.stringify(u)} vs node:dgram ${JSON.stringify(n)}`);
  return n;
}

test('bind({ fd }) of non-UDP descriptors throws ERR_INVALID_FD_TYPE with node:dgram\'s message', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udpx-fd-types-'));
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', r));
  const pipeServer = net.createServer();
  await new Promise<void>((r) => pipeServer.listen(path.join(dir, 'sock'), r));
  const anon = fs
    .readdirSync('/proc/self/fd')
    .map(Number)
    .find((f) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${f}`).startsWith('anon_inode:');
      } catch {
        return false;
      }
    });
  const opened: number[] = [];
  const open = (p: string, flags: string) => {
    const fd = fs.openSync(p, flags);
    opened.push(fd);
    return fd;
  };
  const cases: Array<[string, number, string]> = [
    ['a regular file', open(__filename, 'r'), 'FILE'],
    ['/dev/null', open('/dev/null', 'r'), 'FILE'],
    ['a directory', open(dir, 'r'), 'UNKNOWN'],
    ['a FIFO', open(fifo, 'r+'), 'PIPE'],
    ['a pseudo-terminal', open('/dev/ptmx', 'r+'), 'TTY'],
    ['a TCP server', (server as any)._handle.fd, 'TCP'],
    ['a TCP connection', (client as any)._handle.fd, 'TCP'],
    ['a Unix stream server', (pipeServer as any)._handle.fd, 'PIPE'],
    ['a number that is no open descriptor', 1000, 'UNKNOWN'],
    ['the largest int32', 2 ** 31 - 1, 'UNKNOWN'],
  ];
  if (anon !== undefined) cases.push(['an anonymous inode (epoll/eventfd)', anon, 'UNKNOWN']);
  try {
    for (const [label, fd, type] of cases) {
      t.true(Number.isInteger(fd) && fd > 0, `${label}: got a descriptor`);
      const n = await compare(t, label, { fd });
      t.deepEqual(
        n.threw,
        { name: 'TypeError', code: 'ERR_INVALID_FD_TYPE', message: `Unsupported fd type: ${type}`, ctor: 'TypeError' },
        `${label} (node:dgram)`,
      );
      // The failed bind leaves the socket in the binding state.
      t.is(n.rebind, 'ERR_SOCKET_ALREADY_BOUND', label);
    }
  } finally {
    for (const fd of opened) fs.closeSync(fd);
    client.destroy();
    server.close();
    pipeServer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bind({ fd }) with values that are not positive int32 falls back to a normal bind, as node:dgram', async (t) => {
  const values: unknown[] = [0, -0, -1, -(2 ** 31), 1.5, '3', 2 ** 31, NaN, null, undefined, true, Infinity];
  for (const fd of values) {
    const label = `fd: ${String(fd)}`;
    const n = await compare(t, label, { fd, address: '127.0.0.1' });
    t.is(n.threw, undefined, label);
    t.deepEqual(n.events, ['listening 127.0.0.1 IPv4 true'], label);
  }
});

test('bind({ fd: 3n }) throws the TypeError of mixing BigInt, as node:dgram (its isInt32 does value | 0)', async (t) => {
  const n = await compare(t, 'fd: 3n', { fd: 3n, address: '127.0.0.1' });
  t.is(n.threw?.ctor, 'TypeError');
});

test('bind({ fd }) with a getter that throws propagates the same error', async (t) => {
  const options = {
    get fd(): number {
      throw new RangeError('fd getter');
    },
  };
  const n = await compare(t, 'throwing fd getter', options);
  t.is(n.threw?.message, 'fd getter');
});
