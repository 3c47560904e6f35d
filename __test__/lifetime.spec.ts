// Process lifetime: whether a process that uses a socket exits by itself.
//
// Each case is a small script run in a child `node -e` twice, once on node:dgram and once
// on udpx. The child prints 'start' once its module is loaded; from then on it has
// HANG_MS to exit by itself, after which it is killed and recorded as hung. The two runs
// must agree on whether the child exited by itself, on its exit code and on what it
// printed; each case also states what node:dgram does, so that the case itself is checked.

import test from 'ava';
import { spawn } from 'child_process';
import * as path from 'path';
import { limiter, nodeCommand } from './helpers';

const UDPX = path.resolve(__dirname, '../index.js');
/** How long a child may live after 'start' before it counts as hung. */
const HANG_MS = 2000;
/** Backstop for a child that never even prints 'start' (broken module, stuck startup). */
const STARTUP_MS = 15000;

type Impl = 'node' | 'udpx';

const limited = limiter(6);

interface Run {
  /** Exited without being killed. */
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout lines after 'start'. */
  lines: string[];
  stderr: string;
}

function runScript(impl: Impl, body: string, nodeArgs: string[] = []): Promise<Run> {
  return limited(() => runScriptNow(impl, body, nodeArgs));
}

function runScriptNow(impl: Impl, body: string, nodeArgs: string[]): Promise<Run> {
  const mod = impl === 'udpx' ? UDPX : 'node:dgram';
  const script = [
    `const dgram = require(${JSON.stringify(mod)});`,
    `const log = (...a) => process.stdout.write(a.map(String).join(' ') + '\\n');`,
    `log('start');`,
    body,
  ].join('\n');
  return new Promise((resolve) => {
    const child = spawn(...nodeCommand([...nodeArgs, '-e', script]), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    let hangTimer: NodeJS.Timeout | undefined;
    const kill = () => {
      killed = true;
      child.kill('SIGKILL');
    };
    const startupTimer = setTimeout(kill, STARTUP_MS);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      if (!hangTimer && stdout.includes('start\n')) {
        clearTimeout(startupTimer);
        hangTimer = setTimeout(kill, HANG_MS);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code, signal) => {
      clearTimeout(startupTimer);
      if (hangTimer) clearTimeout(hangTimer);
      const all = stdout.split('\n').filter((l) => l !== '');
      const at = all.indexOf('start');
      resolve({ exited: !killed, code, signal, lines: at < 0 ? all : all.slice(at + 1), stderr });
    });
  });
}

interface Case {
  name: string;
  body: string;
  /** What node:dgram does: exits by itself (true) or stays alive (false). */
  exits: boolean;
  /** Lines that must appear in the output (proves the script got where it meant to). */
  expectLines: string[];
  nodeArgs?: string[];
}

const BIND = `s.bind(0, '127.0.0.1'`;

const cases: Case[] = [
  {
    // libuv's send request keeps the loop alive until it completes, even on an unref'd
    // handle; under --test-udp-no-try-send every send waits for writability that way.
    name: "an unref'd socket's queued sends keep the process until their callbacks, then it exits",
    body: `const s = dgram.createSocket('udp4'); ${BIND}, () => { s.unref(); const p = s.address().port; s.send('a', p, '127.0.0.1', (e, n) => log('sent a', e, n)); s.send('bb', p, '127.0.0.1', (e, n) => log('sent bb', e, n)); process.nextTick(() => log('queued', s.getSendQueueCount())); });`,
    exits: true,
    expectLines: ['sent a null 1', 'sent bb null 2'],
    nodeArgs: ['--test-udp-no-try-send'],
  },
  {
    name: 'a bound ref\'d socket keeps the process alive',
    body: `const s = dgram.createSocket('udp4'); ${BIND}, () => log('listening'));`,
    exits: false,
    expectLines: ['listening'],
  },
  {
    name: 'a bound udp6 socket keeps the process alive',
    body: `const s = dgram.createSocket('udp6'); s.bind(0, '::1', () => log('listening'));`,
    exits: false,
    expectLines: ['listening'],
  },
  {
    name: 'bound, then unref() in the listening callback: exits',
    body: `const s = dgram.createSocket('udp4'); ${BIND}, () => { log('listening'); s.unref(); });`,
    exits: true,
    expectLines: ['listening'],
  },
  {
    name: 'unref() right after bind() (before listening): exits',
    body: `const s = dgram.createSocket('udp4'); ${BIND}, () => log('listening')); s.unref();`,
    exits: true,
    expectLines: [],
  },
  {
    name: 'unref() before bind, then bind: exits',
    body: `const s = dgram.createSocket('udp4'); s.unref(); ${BIND}, () => log('listening'));`,
    exits: true,
    expectLines: [],
  },
  {
    name: 'unref() returns the socket and chains into bind',
    body: `const s = dgram.createSocket('udp4'); log(s.unref() === s); ${BIND}, () => log('listening'));`,
    exits: true,
    expectLines: ['true'],
  },
  {
    name: 'ref() after unref() on a bound socket keeps it alive',
    body: `const s = dgram.createSocket('udp4'); s.unref(); ${BIND}, () => { log('listening'); log(s.ref() === s); });`,
    exits: false,
    expectLines: ['listening', 'true'],
  },
  {
    name: 'unref() then ref() before bind keeps it alive',
    body: `const s = dgram.createSocket('udp4'); s.unref(); s.ref(); ${BIND}, () => log('listening'));`,
    exits: false,
    expectLines: ['listening'],
  },
  {
    name: 'unref() twice then ref() once keeps it alive (no counting)',
    body: `const s = dgram.createSocket('udp4'); ${BIND}, () => { log('listening'); s.unref(); s.unref(); s.ref(); });`,
    exits: false,
    expectLines: ['listening'],
  },
  {
    name: 'an unbound socket (createSocket only) exits',
    body: `const s = dgram.createSocket('udp4'); const t = dgram.createSocket('udp6'); log(typeof s.bind, typeof t.bind);`,
    exits: true,
    expectLines: ['function function'],
  },
  {
    name: 'a closed socket exits',
    body: `const s = dgram.createSocket('udp4'); s.on('close', () => log('close')); ${BIND}, () => { log('listening'); s.close(); });`,
    exits: true,
    expectLines: ['listening', 'close'],
  },
  {
    name: 'close() before the bind completes: exits without listening',
    body: `const s = dgram.createSocket('udp4'); s.on('close', () => log('close')); ${BIND}, () => log('listening')); s.close();`,
    exits: true,
    expectLines: ['close'],
  },
  {
    name: 'ref() on a closed socket does not revive it',
    body: `const s = dgram.createSocket('udp4'); ${BIND}, () => { s.close(() => { log('closed'); log(s.ref() === s); }); });`,
    exits: true,
    expectLines: ['closed', 'true'],
  },
  {
    name: 'a socket closed inside its message handler exits',
    body: `
      const s = dgram.createSocket('udp4');
      s.on('message', (m, r) => { log('message', String(m), r.address); s.close(() => log('close')); });
      ${BIND}, () => {
        const c = dgram.createSocket('udp4');
        c.send('hello', s.address().port, '127.0.0.1', (err) => { log('sent', err); c.close(); });
      });`,
    exits: true,
    expectLines: ['message hello 127.0.0.1', 'close'],
  },
  {
    name: 'a receiver that closes after three messages exits',
    body: `
      const s = dgram.createSocket('udp4');
      let n = 0;
      s.on('message', () => { if (++n === 3) { log('three'); s.close(); } });
      ${BIND}, () => {
        const c = dgram.createSocket('udp4');
        let sent = 0;
        const again = () => { if (sent++ < 3) c.send('x', s.address().port, '127.0.0.1', again); else c.close(); };
        again();
      });`,
    exits: true,
    expectLines: ['three'],
  },
  {
    name: 'send() with a callback on an unref\'d socket still exits (and the callback runs)',
    body: `
      const r = dgram.createSocket('udp4');
      r.bind(0, '127.0.0.1', () => {
        r.unref();
        const s = dgram.createSocket('udp4');
        s.unref();
        s.send('x', r.address().port, '127.0.0.1', (err, n) => log('sent', err, n));
      });`,
    exits: true,
    expectLines: ['sent null 1'],
  },
  {
    name: 'send() on an unref\'d socket with an implicit bind still exits',
    body: `
      const r = dgram.createSocket('udp4');
      r.unref();
      r.bind(0, '127.0.0.1', () => {
        const s = dgram.createSocket('udp4');
        s.send('x', r.address().port, '127.0.0.1', (err, n) => { log('sent', err, n); s.unref(); });
      });`,
    exits: true,
    expectLines: ['sent null 1'],
  },
  {
    name: 'a pending implicit bind (send to 127.0.0.1) followed by close() exits',
    body: `
      const r = dgram.createSocket('udp4');
      r.unref();
      r.bind(0, '127.0.0.1', () => {
        const s = dgram.createSocket('udp4');
        s.on('close', () => log('close'));
        s.send('x', r.address().port, '127.0.0.1');
        s.close();
      });`,
    exits: true,
    expectLines: ['close'],
  },
  {
    name: 'a pending implicit bind with a send callback, then close(): callback and close run, exits',
    body: `
      const r = dgram.createSocket('udp4');
      r.unref();
      r.bind(0, '127.0.0.1', () => {
        const s = dgram.createSocket('udp4');
        s.send('x', r.address().port, '127.0.0.1', (err, n) => log('sent', err && err.code, n));
        s.close(() => log('close'));
      });`,
    exits: true,
    expectLines: ['close'],
  },
  {
    name: 'process.exit() inside a message handler with more datagrams queued: that exit code, no crash',
    body: `
      const s = dgram.createSocket('udp4');
      s.on('message', () => { log('message'); process.exit(3); });
      ${BIND}, () => {
        const c = dgram.createSocket('udp4');
        for (let i = 0; i < 50; i++) c.send('x', s.address().port, '127.0.0.1');
      });`,
    exits: true,
    expectLines: ['message'],
  },
  {
    name: 'a failed bind (EADDRINUSE) leaves nothing holding the process',
    body: `
      const a = dgram.createSocket('udp4');
      a.bind(0, '127.0.0.1', () => {
        a.unref();
        const b = dgram.createSocket('udp4');
        b.on('error', (e) => log('error', e.code, e.syscall));
        b.bind(a.address().port, '127.0.0.1');
      });`,
    exits: true,
    expectLines: ['error EADDRINUSE bind'],
  },
  {
    name: 'a connected socket keeps the process alive',
    body: `
      const r = dgram.createSocket('udp4');
      r.unref();
      r.bind(0, '127.0.0.1', () => {
        const s = dgram.createSocket('udp4');
        s.connect(r.address().port, '127.0.0.1', () => log('connected'));
      });`,
    exits: false,
    expectLines: ['connected'],
  },
  {
    name: 'a connected socket unref\'d in its connect callback exits',
    body: `
      const r = dgram.createSocket('udp4');
      r.unref();
      r.bind(0, '127.0.0.1', () => {
        const s = dgram.createSocket('udp4');
        s.connect(r.address().port, '127.0.0.1', () => { log('connected'); s.unref(); });
      });`,
    exits: true,
    expectLines: ['connected'],
  },
  {
    name: 'an unref\'d socket still delivers messages while something else holds the loop',
    body: `
      const s = dgram.createSocket('udp4');
      const backstop = setTimeout(() => log('no message'), 1500);
      s.on('message', (m) => { log('message', String(m)); clearTimeout(backstop); });
      s.unref();
      ${BIND}, () => {
        const c = dgram.createSocket('udp4');
        c.send('ping', s.address().port, '127.0.0.1', () => c.close());
      });`,
    exits: true,
    expectLines: ['message ping'],
  },
  {
    name: 'an aborted signal closes the socket and the process exits',
    body: `
      const ac = new AbortController();
      const s = dgram.createSocket({ type: 'udp4', signal: ac.signal });
      s.on('close', () => log('close'));
      ${BIND}, () => { log('listening'); ac.abort(); });`,
    exits: true,
    expectLines: ['listening', 'close'],
  },
  {
    name: 'Symbol.asyncDispose closes a bound socket and the process exits',
    body: `
      const s = dgram.createSocket('udp4');
      ${BIND}, async () => { log('listening'); await s[Symbol.asyncDispose](); log('disposed'); });`,
    exits: true,
    expectLines: ['listening', 'disposed'],
  },
  {
    name: 'addMembership on an unbound socket (implicit bind, no receive) exits',
    body: `
      const s = dgram.createSocket('udp4');
      try { s.addMembership('224.0.0.114', '127.0.0.1'); log('joined'); } catch (e) { log('threw', e.code); }`,
    exits: true,
    expectLines: ['joined'],
  },
  {
    name: 'a bound socket nothing refers to survives garbage collection and keeps the process alive',
    body: `
      (() => { dgram.createSocket('udp4').bind(0, '127.0.0.1', () => log('listening')); })();
      setTimeout(() => { global.gc(); log('gc'); }, 50);`,
    exits: false,
    expectLines: ['listening', 'gc'],
    nodeArgs: ['--expose-gc'],
  },
  {
    name: 'an unref\'d bound socket nothing refers to still receives after garbage collection',
    body: `
      let port;
      (() => {
        const s = dgram.createSocket('udp4');
        s.on('message', (m) => { log('message', String(m)); s.close(); clearTimeout(backstop); });
        s.unref();
        s.bind(0, '127.0.0.1', () => { port = s.address().port; });
      })();
      const backstop = setTimeout(() => log('no message'), 1500);
      setTimeout(() => {
        global.gc();
        const c = dgram.createSocket('udp4');
        c.send('after-gc', port, '127.0.0.1', () => c.close());
      }, 50);`,
    exits: true,
    expectLines: ['message after-gc'],
    nodeArgs: ['--expose-gc'],
  },
];

for (const c of cases) {
  test(c.name, async (t) => {
    const [node, udpx] = await Promise.all([runScript('node', c.body, c.nodeArgs), runScript('udpx', c.body, c.nodeArgs)]);
    const info = `node: ${JSON.stringify(node)}\nudpx: ${JSON.stringify(udpx)}`;
    // The case itself: node:dgram does what the case says.
    t.is(node.exited, c.exits, `node:dgram ${c.exits ? 'should exit' : 'should stay alive'}\n${info}`);
    for (const l of c.expectLines) t.true(node.lines.includes(l), `node:dgram printed ${JSON.stringify(l)}\n${info}`);
    // udpx against node:dgram.
    t.is(udpx.exited, node.exited, `exits by itself: udpx ${udpx.exited}, node:dgram ${node.exited}\n${info}`);
    // A child that exited by itself did so normally, not from a signal or an abort.
    if (udpx.exited) t.is(udpx.signal, null, info);
    if (node.exited) t.is(udpx.code, node.code, info);
    t.deepEqual(udpx.lines, node.lines, info);
  });
}
