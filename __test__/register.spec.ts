// udpx/register: `node -r udpx/register` and `node --import udpx/register` make every
// `dgram` / `node:dgram` (require, import, createRequire, getBuiltinModule, inside libraries)
// resolve to udpx. Each case runs in a child process that prints one JSON line.

import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.join(__dirname, '..', '..'); // the package root (dist/__test__/../..)
const UDPX = path.join(__dirname, '..', 'index.js');
const REGISTER = path.join(__dirname, '..', 'lib', 'register', 'index.js');
const REGISTER_URL = pathToFileURL(REGISTER).href;
const CHILD_MS = 10_000;
const MARK = '@@result ';
const HOOKS_MARK = '@@hooks ';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  result: any;
}

function run(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(MARK));
      resolve({ code, signal, stdout, stderr, result: line ? JSON.parse(line.slice(MARK.length)) : undefined });
    });
  });
}

// A temp project: scripts, a CJS library and an ESM library in node_modules that use dgram,
// and node_modules/udpx linked to this package (so `udpx/register` resolves by name).
let dir = '';
test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udpx-register-'));
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'udpx'), 'dir');

  write('node_modules/cjs-lib/package.json', JSON.stringify({ name: 'cjs-lib', main: 'index.js' }));
  write(
    'node_modules/cjs-lib/index.js',
    `const dgram = require('dgram');\n` +
      `exports.dgram = dgram;\n` +
      `exports.make = () => dgram.createSocket('udp4');\n`,
  );
  write(
    'node_modules/esm-lib/package.json',
    JSON.stringify({ name: 'esm-lib', type: 'module', exports: './index.js' }),
  );
  write(
    'node_modules/esm-lib/index.js',
    `import dgram from 'dgram';\nimport { createSocket } from 'node:dgram';\n` +
      `export { dgram, createSocket };\n`,
  );

  // A UDP round trip on loopback through whatever `createSocket` is given; reports whether
  // the socket is a udpx socket and what arrived. Bounded: gives up after 2 s.
  const roundTrip =
    `function roundTrip(createSocket, Socket) {\n` +
    `  return new Promise((resolve) => {\n` +
    `    const s = createSocket('udp4');\n` +
    `    const timer = setTimeout(() => { s.close(); resolve({ error: 'timeout' }); }, 2000);\n` +
    `    s.on('error', (e) => { clearTimeout(timer); s.close(); resolve({ error: String(e) }); });\n` +
    `    s.on('message', (msg, rinfo) => {\n` +
    `      clearTimeout(timer);\n` +
    `      const port = s.address().port;\n` +
    `      s.close(() => resolve({ isUdpx: s instanceof Socket, msg: msg.toString(), samePort: rinfo.port === port, family: rinfo.family }));\n` +
    `    });\n` +
    `    s.bind(0, '127.0.0.1', () => s.send('hello', s.address().port, '127.0.0.1'));\n` +
    `  });\n` +
    `}\n`;

  write(
    'app.cjs',
    `const udpx = require(${JSON.stringify(UDPX)});\n` +
      roundTrip +
      `const d = require('dgram'), nd = require('node:dgram'), lib = require('cjs-lib');\n` +
      `const builtin = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('node:dgram') === udpx : null;\n` +
      `roundTrip(d.createSocket, udpx.Socket).then((rt) => {\n` +
      `  console.log(${JSON.stringify(MARK)} + JSON.stringify({\n` +
      `    dgram: d === udpx, nodeDgram: nd === udpx, Socket: d.Socket === udpx.Socket,\n` +
      `    createSocket: nd.createSocket === udpx.createSocket, lib: lib.dgram === udpx,\n` +
      `    libSocket: lib.make() instanceof udpx.Socket, builtin, rt }));\n` +
      `});\n`,
  );

  write(
    'app.mjs',
    `import dgram from 'dgram';\n` +
      `import nodeDgram, { createSocket, Socket } from 'node:dgram';\n` +
      `import * as ns from 'node:dgram';\n` +
      `import { createRequire } from 'node:module';\n` +
      `import * as esmLib from 'esm-lib';\n` +
      `const require = createRequire(import.meta.url);\n` +
      `const udpx = require(${JSON.stringify(UDPX)});\n` +
      roundTrip +
      `const dyn = await import('dgram');\n` +
      `const rt = await roundTrip(createSocket, udpx.Socket);\n` +
      `console.log(${JSON.stringify(MARK)} + JSON.stringify({\n` +
      `  dflt: dgram === udpx, nodeDflt: nodeDgram === udpx, createSocket: createSocket === udpx.createSocket,\n` +
      `  Socket: Socket === udpx.Socket, nsKeys: Object.keys(ns).sort(), udpxKeys: Object.keys(udpx).filter((k) => k !== '__esModule').concat('default').sort(),\n` +
      `  nsMatches: Object.keys(udpx).every((k) => k === '__esModule' || ns[k] === udpx[k]),\n` +
      `  dynamic: dyn.default === udpx && dyn.createSocket === udpx.createSocket,\n` +
      `  createRequire: require('dgram') === udpx && require('node:dgram') === udpx,\n` +
      `  cjsLib: require('cjs-lib').dgram === udpx,\n` +
      `  esmLib: esmLib.dgram === udpx && esmLib.createSocket === udpx.createSocket,\n` +
      `  rt }));\n`,
  );

  // Preloaded before udpx/register: records which hook API it calls.
  write(
    'spy.cjs',
    `const m = require('node:module');\n` +
      `const calls = [];\n` +
      `for (const k of ['register', 'registerHooks']) {\n` +
      `  const f = m[k];\n` +
      `  if (typeof f === 'function') m[k] = function (...a) { calls.push(k); return f.apply(this, a); };\n` +
      `}\n` +
      `process.on('exit', () => console.log(${JSON.stringify(HOOKS_MARK)} + JSON.stringify(calls)));\n`,
  );

  // `node -r` also applies in worker threads.
  write(
    'worker.cjs',
    `const { Worker } = require('node:worker_threads');\n` +
      `const src = "const u = require(" + JSON.stringify(${JSON.stringify(UDPX)}) + "); require('node:worker_threads').parentPort.postMessage(require('dgram') === u && require('node:dgram') === u)";\n` +
      `new Worker(src, { eval: true }).on('message', (m) => console.log(${JSON.stringify(MARK)} + JSON.stringify({ worker: m })));\n`,
  );
});

test.after.always(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const CJS_ALL = {
  dgram: true,
  nodeDgram: true,
  Socket: true,
  createSocket: true,
  lib: true,
  libSocket: true,
  rt: { isUdpx: true, msg: 'hello', samePort: true, family: 'IPv4' },
};

function checkCjs(t: any, r: Run) {
  if (!r.result) t.log(`code ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  t.is(r.code, 0);
  t.notRegex(r.stderr, /Warning/, 'no warning (DeprecationWarning, ExperimentalWarning) is printed');
  const { builtin, ...rest } = r.result ?? {};
  t.deepEqual(rest, CJS_ALL);
  // process.getBuiltinModule exists from Node 20.16 / 22.3; where it does, it is redirected too.
  if (builtin !== null) t.true(builtin, 'process.getBuiltinModule("node:dgram") is udpx');
}

function checkEsm(t: any, r: Run) {
  if (!r.result) t.log(`code ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  t.is(r.code, 0);
  t.notRegex(r.stderr, /Warning/, 'no warning (DeprecationWarning, ExperimentalWarning) is printed');
  const res = r.result ?? {};
  t.deepEqual(res.nsKeys, res.udpxKeys, 'the ESM namespace has exactly udpx exports + default');
  t.true(res.nsKeys?.includes('createSocket') && res.nsKeys?.includes('Socket'));
  const { nsKeys, udpxKeys, ...rest } = res;
  t.deepEqual(rest, {
    dflt: true,
    nodeDflt: true,
    createSocket: true,
    Socket: true,
    nsMatches: true,
    dynamic: true,
    createRequire: true,
    cjsLib: true,
    esmLib: true,
    rt: { isUdpx: true, msg: 'hello', samePort: true, family: 'IPv4' },
  });
}

test('control: without register, dgram is the builtin', async (t) => {
  const r = await run(
    ['-e', `const u = require(${JSON.stringify(UDPX)}); console.log(${JSON.stringify(MARK)} + JSON.stringify(require('dgram') === u || require('dgram').Socket === u.Socket))`],
    dir,
  );
  t.is(r.code, 0, r.stderr);
  t.is(r.result, false);
});

test('node -r <register.js> app.cjs: require(dgram|node:dgram) is udpx, also in a library', async (t) => {
  checkCjs(t, await run(['-r', REGISTER, 'app.cjs'], dir));
});

test('node --import <register.js URL> app.cjs: CommonJS is switched too', async (t) => {
  checkCjs(t, await run(['--import', REGISTER_URL, 'app.cjs'], dir));
});

test('node --import <register.js URL> app.mjs: default, named, namespace and dynamic imports are udpx', async (t) => {
  checkEsm(t, await run(['--import', REGISTER_URL, 'app.mjs'], dir));
});

test('node -r <register.js> app.mjs: ESM is switched too', async (t) => {
  checkEsm(t, await run(['-r', REGISTER, 'app.mjs'], dir));
});

test('by package name: node -r udpx/register and --import udpx/register', async (t) => {
  checkCjs(t, await run(['-r', 'udpx/register', 'app.cjs'], dir));
  checkEsm(t, await run(['--import', 'udpx/register', 'app.mjs'], dir));
});

test('both -r and --import at once: installs once, still works', async (t) => {
  checkCjs(t, await run(['-r', REGISTER, '--import', REGISTER_URL, 'app.cjs'], dir));
  checkEsm(t, await run(['-r', REGISTER, '--import', REGISTER_URL, 'app.mjs'], dir));
});

test('node -r <register.js>: worker threads get udpx too', async (t) => {
  const r = await run(['-r', REGISTER, 'worker.cjs'], dir);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.result, { worker: true });
});

test('a process with register and nothing else exits by itself', async (t) => {
  const r = await run(['--import', REGISTER_URL, '-r', REGISTER, '-e', `console.log(${JSON.stringify(MARK)} + '1')`], dir);
  t.is(r.signal, null);
  t.is(r.code, 0, r.stderr);
  t.is(r.result, 1);
});

// Node 26 deprecates module.register() (DEP0205, a runtime DeprecationWarning); the in-thread
// module.registerHooks() (22.15.0) replaces it. udpx/register must take registerHooks wherever
// this Node has it, and module.register() only where it does not (Node 20).
const hasRegisterHooks = typeof (require('node:module') as { registerHooks?: unknown }).registerHooks === 'function';
const HOOK_API = hasRegisterHooks ? 'registerHooks' : 'register';

for (const [how, args] of [
  ['-r', ['-r', REGISTER]],
  ['--import', ['--import', REGISTER_URL]],
] as const) {
  test(`${how} register on Node ${process.versions.node}: ESM hooks through module.${HOOK_API}, and no warning`, async (t) => {
    const r = await run(['--throw-deprecation', '-r', './spy.cjs', ...args, 'app.mjs'], dir);
    checkEsm(t, r);
    const line = r.stdout.split('\n').find((l) => l.startsWith(HOOKS_MARK));
    t.deepEqual(line && JSON.parse(line.slice(HOOKS_MARK.length)), [HOOK_API]);
  });
}
