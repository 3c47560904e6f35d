// Install without Rust: the root package and the linux-x64-gnu platform package, packed as npm
// publishes them (the binary copied in by `napi artifacts`), installed from the tarballs into a
// fresh project with no cargo on PATH and no registry reachable. There a CommonJS script, an ES
// module script and a TypeScript program send and receive a datagram; and without a fitting
// binary the loader's error names the platform and the supported ones.

import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..'); // the package root (dist/__test__/../..)
const PLATFORM = 'linux-x64-gnu';
const TRIPLE = 'x86_64-unknown-linux-gnu';
const STEP_MS = 120_000;

const hostFits = process.platform === 'linux' && process.arch === 'x64' &&
  fs.existsSync(path.join(ROOT, 'native', `udpx.${PLATFORM}.node`));

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `file args` in `cwd` with exactly `env`, killed after STEP_MS. */
function exec(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), STEP_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(what: string, run: Promise<Run>): Promise<string> {
  const r = await run;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// The npm that came with this node (its CLI script, run by this node), or UDPX_NPM_CLI: the
// npm packages of Node (used for Node 22/24/26 in CI) ship no npm, so CI names the host's.
const NPM_CLI = [
  process.env.UDPX_NPM_CLI ?? '',
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js'),
].find((p) => p !== '' && fs.existsSync(p));

// Sends one datagram to itself and prints what came back (bounded: gives up after 5 s).
const ROUND_TRIP_BODY = `
const s = createSocket('udp4');
const timer = setTimeout(() => { console.log('timeout'); process.exit(1); }, 5000);
s.on('message', (msg, rinfo) => {
  clearTimeout(timer);
  console.log(JSON.stringify({ msg: String(msg), family: rinfo.family, size: rinfo.size }));
  s.close();
});
s.bind(0, '127.0.0.1', () => s.send('hello', s.address().port, '127.0.0.1'));
`;

let work = '';
let project = '';
let env: NodeJS.ProcessEnv = {};

test.before(async (t) => {
  t.timeout(STEP_MS * 3);
  if (!hostFits || !NPM_CLI) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'udpx-install-'));
  project = path.join(work, 'project');
  fs.mkdirSync(project);

  // PATH holds only this node: no cargo, no rustc, no compiler.
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  env = {
    PATH: bin,
    HOME: work,
    npm_config_cache: path.join(work, 'npm-cache'),
    npm_config_offline: 'true',
    // Nothing listens there: any registry request fails instead of reaching the network.
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  const npm = (args: string[], cwd: string) => ok(`npm ${args.join(' ')}`, exec(process.execPath, [NPM_CLI, ...args], cwd, env));

  // The platform package as `napi artifacts` fills it: a copy of npm/<platform> with the
  // built binary moved in by the napi CLI itself (its config cut down to this one target).
  const stage = path.join(work, 'stage');
  fs.mkdirSync(path.join(stage, 'native'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'npm', PLATFORM), path.join(stage, 'npm', PLATFORM), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'native', `udpx.${PLATFORM}.node`), path.join(stage, 'native', `udpx.${PLATFORM}.node`));
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  pkg.napi.targets = [TRIPLE];
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2));
  const napi = path.join(ROOT, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
  await ok('napi artifacts', exec(process.execPath, [napi, 'artifacts', '--output-dir', 'native', '--npm-dir', 'npm'], stage, env));

  const tarballs = path.join(work, 'tarballs');
  fs.mkdirSync(tarballs);
  const packed = async (dir: string) =>
    path.join(tarballs, (await npm(['pack', '--pack-destination', tarballs, '--ignore-scripts'], dir)).trim().split('\n').pop()!);
  const rootTgz = await packed(ROOT);
  const platformTgz = await packed(path.join(stage, 'npm', PLATFORM));

  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  await npm(['install', '--no-save', rootTgz, platformTgz], project);

  fs.writeFileSync(path.join(project, 'main.cjs'), `const { createSocket } = require('udpx');\n${ROUND_TRIP_BODY}`);
  fs.writeFileSync(path.join(project, 'main.mjs'), `import { createSocket } from 'udpx';\n${ROUND_TRIP_BODY}`);
  fs.writeFileSync(
    path.join(project, 'main.ts'),
    `import { createSocket, type Socket } from 'udpx';\n` +
      `import type * as dgram from 'node:dgram';\n` +
      `type RemoteInfo = dgram.RemoteInfo;\n` +
      `const asDgram: (s: Socket) => dgram.Socket = (s) => s;\n` +
      `const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => { void msg; void rinfo; };\n` +
      `asDgram(createSocket('udp4')).on('message', onMessage).close();\n` +
      ROUND_TRIP_BODY.replace('(msg, rinfo)', '(msg: Buffer, rinfo: RemoteInfo)'),
  );
  // TypeScript and @types/node come from this checkout's node_modules (no registry here).
  fs.writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node', outDir: 'out',
        types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')], lib: ['ES2022', 'ESNext.Disposable'],
      },
      files: ['main.ts'],
    }),
  );
});

test.after.always(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const skipReason = !hostFits
  ? `needs linux-x64 with native/udpx.${PLATFORM}.node built (this is ${process.platform}-${process.arch})`
  : !NPM_CLI ? `no npm CLI found next to ${process.execPath}` : '';
const run = skipReason ? test.skip : test.serial;
if (skipReason) console.log(`install.spec: skipped: ${skipReason}`);

run('the install has udpx and its binary from the tarballs, and no cargo on PATH', async (t) => {
  const installed = path.join(project, 'node_modules');
  t.true(fs.existsSync(path.join(installed, `udpx-${PLATFORM}`, `udpx.${PLATFORM}.node`)));
  t.false(fs.existsSync(path.join(installed, 'udpx', 'native', `udpx.${PLATFORM}.node`)), 'the root package carries no binary');
  const which = await exec(process.execPath, ['-e', `
    const fs = require('fs'), path = require('path');
    const found = process.env.PATH.split(':').some((d) => ['cargo', 'rustc'].some((b) => fs.existsSync(path.join(d, b))));
    process.exit(found ? 1 : 0);`], project, env);
  t.is(which.code, 0, 'cargo or rustc on PATH');
});

run('a CommonJS script sends and receives a datagram', async (t) => {
  const out = await ok('node main.cjs', exec(process.execPath, ['main.cjs'], project, env));
  t.deepEqual(JSON.parse(out), { msg: 'hello', family: 'IPv4', size: 5 });
});

run('an ES module script sends and receives a datagram', async (t) => {
  const out = await ok('node main.mjs', exec(process.execPath, ['main.mjs'], project, env));
  t.deepEqual(JSON.parse(out), { msg: 'hello', family: 'IPv4', size: 5 });
});

run('a TypeScript program type-checks against the installed types (tsc --noEmit), and compiled, sends and receives', async (t) => {
  t.timeout(STEP_MS * 2);
  await ok('tsc --noEmit', exec(process.execPath, [tsc, '--noEmit', '-p', '.'], project, env));
  // The check can fail: with a type error in a second file, tsc reports exactly that one
  // (and still emits main.js, which then runs).
  fs.writeFileSync(path.join(project, 'bad.ts'), `import { createSocket } from 'udpx';\ncreateSocket('udp4').setTOS('high');\n`);
  const config = JSON.parse(fs.readFileSync(path.join(project, 'tsconfig.json'), 'utf8'));
  fs.writeFileSync(path.join(project, 'tsconfig.bad.json'), JSON.stringify({ ...config, files: ['main.ts', 'bad.ts'] }));
  const bad = await exec(process.execPath, [tsc, '-p', 'tsconfig.bad.json'], project, env);
  t.not(bad.code, 0);
  t.deepEqual(bad.stdout.split('\n').filter((l) => /error TS/.test(l)).map((l) => l.replace(/:.*/, '')), ['bad.ts(2,29)']);
  const out = await ok('node out/main.js', exec(process.execPath, ['out/main.js'], project, env));
  t.deepEqual(JSON.parse(out), { msg: 'hello', family: 'IPv4', size: 5 });
});

const errorProbe = (preload: string) => `${preload}
try { require('udpx'); console.log(JSON.stringify({ loaded: true })); }
catch (e) { console.log(JSON.stringify({ message: e.message, code: e.code, cause: e.cause && e.cause.message })); }`;

run('without its platform package, the error names this platform and the supported ones', async (t) => {
  fs.renameSync(path.join(project, 'node_modules', `udpx-${PLATFORM}`), path.join(work, 'moved-away'));
  try {
    const out = JSON.parse(await ok('probe', exec(process.execPath, ['-e', errorProbe('')], project, env)));
    t.is(out.code, 'ERR_UDPX_NO_BINARY');
    t.regex(out.message, new RegExp(`no native binary for ${PLATFORM} \\(Node v`));
    t.regex(out.message, new RegExp(`package udpx-${PLATFORM} is missing`));
    for (const p of ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'darwin-arm64', 'win32-x64-msvc']) {
      t.true(out.message.includes(p), `supported list names ${p}`);
    }
    t.regex(out.cause, /Cannot find native binding/, "the generated loader's error is the cause");
  } finally {
    fs.renameSync(path.join(work, 'moved-away'), path.join(project, 'node_modules', `udpx-${PLATFORM}`));
  }
});

run('on a platform with no prebuilt binary, the error says so and lists the supported ones', async (t) => {
  const out = JSON.parse(await ok('probe', exec(process.execPath, ['-e',
    errorProbe(`Object.defineProperty(process, 'arch', { value: 'riscv64' });`)], project, env)));
  t.is(out.code, 'ERR_UDPX_NO_BINARY');
  t.regex(out.message, /no native binary for linux-riscv64-gnu .*this platform has no prebuilt binary/);
  t.regex(out.message, /Prebuilt binaries: linux-x64-gnu, linux-arm64-gnu, /);
});
