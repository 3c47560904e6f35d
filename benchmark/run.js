'use strict';
// Side-by-side benchmark: udpx vs node:dgram vs Bun (its node:dgram and its own
// Bun.udpSocket) vs native C loops vs the Rust core's own loops, loopback only, one run.
//
//   node benchmark/run.js [--quick] [--all] [--only <names>] [--rounds N] [--duration S]
//                         [--flood gso|sendmmsg] [--no-pin] [--retries N] [--udpx <module>]
//                         [--bun <path>|--no-bun]   (--help explains each)
//
// Bun: the `bun` on PATH, else the `bun` npm package (BUN_VERSION below) installed with npm
// into the run's temporary directory and deleted with it; never a dependency of the project.
//
// Progress goes to stderr; the markdown report goes to stdout. Every measurement runs in
// child processes of its own (benchmark/worker.js for JS, a C program compiled here with
// gcc -O2 into a temporary directory, crates/udpx/examples/loopbench.rs built with cargo
// --release), implementations alternate from round to round, and the median over rounds is
// reported. Exit status 1 when udpx cannot be loaded or a run failed.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const WORKER = path.join(__dirname, 'worker.js');
const NATIVE_SRC = path.join(__dirname, 'native', 'udpbench.c');
const REPO = path.join(__dirname, '..');
const LOOPBENCH = path.join(REPO, 'target', 'release', 'examples', 'loopbench');

const MEASUREMENTS = [
  'send64',
  'send1200',
  'sendmany64',
  'sendmany1200',
  'sendgso64',
  'sendgso1200',
  'recv64',
  'recv1200',
  'recvbatch64',
  'recvbatch1200',
  'flood64',
  'rtt1cpu',
  'rtt2cpu',
];
// What runs without --only / --all: the 64 B rows, which the targets are about (about 5
// minutes on a quiet 2-CPU VM); --all adds the 1200 B ones.
const DEFAULT = MEASUREMENTS.filter((m) => !m.endsWith('1200'));
// The Bun the benchmark installs from npm when none is on PATH.
const BUN_VERSION = '1.4.5';
const PING = ['rtt1cpu', 'rtt2cpu'];
const BATCHED = ['sendmany64', 'sendmany1200', 'sendgso64', 'sendgso1200', 'recvbatch64', 'recvbatch1200'];
const ALIASES = {
  send: ['send64', 'send1200'],
  recv: ['recv64', 'recv1200'],
  sendmany: ['sendmany64', 'sendmany1200'],
  sendgso: ['sendgso64', 'sendgso1200'],
  gso: ['sendgso64', 'sendgso1200'],
  recvbatch: ['recvbatch64', 'recvbatch1200'],
  flood: ['flood64'],
  batch: BATCHED,
  batched: BATCHED,
  pingpong: PING,
  ping: PING,
  rtt: PING,
};
const GROUPS = 'send, sendmany, sendgso, recv, recvbatch, flood, batch, pingpong';
// Batched sends: datagrams per sendBatch()/sendmmsg() call, and how many sink ports the
// many-peers test spreads them over.
const BATCH = 64;
const PEERS = 8;
// Datagrams per UDP GSO send: the kernel takes at most 64 segments and 64 KiB.
const gsoBatch = (size) => Math.max(1, Math.min(64, Math.floor(65000 / size)));
// The flood with a slow handler: µs each 'message' handler call spins, seconds of flood.
const SLOW_US = 50;
// node:dgram's run of an earlier measurement that is the same run as this one's node:dgram
// column (same code, same flood or sink): borrowed instead of measured twice.
const BORROW_NODE = {
  sendmany64: 'send64',
  sendmany1200: 'send1200',
  sendgso64: 'send64',
  sendgso1200: 'send1200',
  recvbatch64: 'recv64',
  recvbatch1200: 'recv1200',
};

function usage(code) {
  const text = `usage: node benchmark/run.js [options]

  --quick            short runs (0.5 s, 1 round, 3000 round trips) for development
  --all              every measurement, the 1200 B ones too (default: the 64 B ones)
  --only <names>     comma-separated subset: ${MEASUREMENTS.join(', ')}
                     (or the groups ${GROUPS})
  --rounds <n>       rounds per measurement, implementations alternating (default 3; quick 1)
  --duration <s>     seconds per send/receive run (default 1.5; quick 0.5)
  --flood <method>   how the C flooder of the receive test sends: gso (default; UDP GSO
                     buffers of 64 datagrams, fast enough to saturate every receiver here)
                     or sendmmsg (batches of 64 datagrams, slower than a C receiver)
  --no-pin           run every process unpinned (default: the process under test on CPU 0,
                     its C peer on CPU 1; ping-pong pinned as its rows say)
  --retries <n>      repeat a run up to n times while other processes took more than 5 % of
                     the CPU during it, keeping the least disturbed attempt (default 1); before
                     a repeat (and before the start) wait for quiet, 60 s in all at most
  --udpx <module>    what to require() as udpx (default: the package root, i.e. dist/index.js);
                     e.g. --udpx node:dgram to try the benchmark itself before udpx is built
  --bun <path>       the bun executable to compare with (default: \`bun\` on PATH; if there is
                     none, npm installs bun@${BUN_VERSION} into the run's temporary directory)
  --no-bun           no Bun columns
`;
  (code ? process.stderr : process.stdout).write(text);
  process.exit(code);
}

function parseArgs(argv) {
  const o = {
    quick: false,
    only: null,
    rounds: null,
    duration: null,
    flood: 'gso',
    pin: true,
    retries: 1,
    all: false,
    bun: undefined, // a path, or null for --no-bun
    udpx: path.join(__dirname, '..'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) {
        process.stderr.write(`benchmark: ${a} needs a value\n`);
        usage(2);
      }
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--all') o.all = true;
    else if (a === '--bun') o.bun = value();
    else if (a === '--no-bun') o.bun = null;
    else if (a === '--only') o.only = value();
    else if (a === '--rounds') o.rounds = Number(value());
    else if (a === '--duration') o.duration = Number(value());
    else if (a === '--udpx') o.udpx = value();
    else if (a === '--flood') o.flood = value();
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--retries') o.retries = Number(value());
    else if (a === '--help' || a === '-h') usage(0);
    else {
      process.stderr.write(`benchmark: unknown option ${a}\n`);
      usage(2);
    }
  }
  let selected = o.all ? MEASUREMENTS : DEFAULT;
  if (o.only) {
    selected = [];
    for (const name of o.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const names = ALIASES[name] || (MEASUREMENTS.includes(name) ? [name] : null);
      if (!names) {
        process.stderr.write(
          `benchmark: unknown measurement "${name}"; known: ${MEASUREMENTS.join(', ')}, ${GROUPS}\n`,
        );
        process.exit(2);
      }
      for (const n of names) if (!selected.includes(n)) selected.push(n);
    }
    selected = MEASUREMENTS.filter((m) => selected.includes(m));
  }
  const rounds = o.rounds ?? (o.quick ? 1 : 3);
  const duration = o.duration ?? (o.quick ? 0.5 : 1.5);
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) {
    process.stderr.write('benchmark: --rounds must be an integer from 1 to 20\n');
    process.exit(2);
  }
  if (!(Number.isInteger(o.retries) && o.retries >= 0 && o.retries <= 10)) {
    process.stderr.write('benchmark: --retries must be an integer from 0 to 10\n');
    process.exit(2);
  }
  if (o.flood !== 'gso' && o.flood !== 'sendmmsg') {
    process.stderr.write('benchmark: --flood must be gso or sendmmsg\n');
    process.exit(2);
  }
  if (!(duration > 0 && duration <= 30)) {
    process.stderr.write('benchmark: --duration must be a number of seconds in (0, 30]\n');
    process.exit(2);
  }
  return {
    selected,
    rounds,
    duration,
    warmup: o.quick ? 0.1 : 0.3, // seconds of sending before a send measurement starts
    pingCount: o.quick ? 3000 : 20000,
    pingWarmup: o.quick ? 300 : 1000,
    pingLimit: o.quick ? 15 : 60, // seconds a ping-pong run may take at most
    udpx: o.udpx,
    flood: o.flood,
    pin: o.pin,
    retries: o.retries,
    quick: o.quick,
    bun: o.bun,
    floodSeconds: o.quick ? 1 : 3,
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked, bounded by a hard timeout and killed on our exit.

const children = new Set();
let tmpDir = null;

function cleanup() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  children.clear();
  if (tmpDir) {
    try {
      fs.rmSync(tmpDir, { recursive: true, force: true });
    } catch {}
    tmpDir = null;
  }
}

process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    progress.clear();
    process.stderr.write(`benchmark: ${sig}, stopping\n`);
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

class Child {
  // cpu: pin the process and all its threads to that CPU with taskset.
  constructor(label, cmd, args, timeoutSec, cpu) {
    this.label = label;
    if (cpu !== undefined) [cmd, args] = ['taskset', ['-c', String(cpu), cmd, ...args]];
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(this.proc);
    this.lines = [];
    this.waiters = [];
    this.stderr = '';
    this.failure = null;
    let pending = '';
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk) => {
      pending += chunk;
      let i;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i).trim();
        pending = pending.slice(i + 1);
        if (!line) continue;
        let obj;
        try {
          obj = JSON.parse(line);
        } catch {
          this.stderr += `(stdout) ${line}\n`;
          continue;
        }
        this.lines.push(obj);
        this.wake();
      }
    });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => {
      if (this.stderr.length < 8000) this.stderr += d;
    });
    this.proc.stdin.on('error', () => {}); // the child may be gone already
    this.exited = new Promise((resolve) => {
      // 'close' rather than 'exit': the last stdout line may still be in flight at 'exit'.
      this.proc.on('close', (code, signal) => {
        children.delete(this.proc);
        clearTimeout(this.timer);
        this.exitInfo = { code, signal };
        if (!this.failure && code !== 0 && signal !== 'SIGTERM') {
          this.failure = `${label} exited with ${signal || `code ${code}`}`;
        }
        this.wake();
        resolve(this.exitInfo);
      });
      this.proc.on('error', (err) => {
        children.delete(this.proc);
        this.failure = `${label}: ${err.message}`;
        this.exitInfo = { code: -1 };
        this.wake();
        resolve(this.exitInfo);
      });
    });
    this.timer = setTimeout(() => {
      this.failure = `${label} killed after its hard timeout of ${timeoutSec} s`;
      this.proc.kill('SIGKILL');
    }, timeoutSec * 1000);
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  // The next JSON line from the child's stdout; rejects if the child dies first.
  async next() {
    for (;;) {
      if (this.lines.length) return this.lines.shift();
      if (this.exitInfo) {
        const why = this.failure || `${this.label} exited without a result`;
        throw new Error(`${why}${this.stderr ? `\n${this.stderr.trim()}` : ''}`);
      }
      await new Promise((resolve) => this.waiters.push(resolve));
    }
  }

  send(line) {
    if (!this.exitInfo) this.proc.stdin.write(line + '\n');
  }

  stop(signal = 'SIGTERM') {
    if (!this.exitInfo) this.proc.kill(signal);
    return this.exited;
  }
}

// ---------------------------------------------------------------------------------------------
// Implementations

let config;
let nativeBin;
// Every implementation a measurement may run, by key. kind: js (benchmark/worker.js under
// `runtime`, node by default, require()ing `module`), C (udpbench), rust (loopbench).
let IMPLS;
const implOf = (key) => IMPLS[key];
// Why an implementation was left out of this run (no bun, no cargo, ...), by key.
const skipped = {};
// The Bun of this run: path, version, how it was found.
const BUN = { path: null, version: null, how: null };

// The implementations of each measurement, in their column order.
// Every implementation that a measurement has a column for.
function columnsOf(name) {
  if (name.startsWith('sendmany')) return ['node', 'udpx', 'C', 'rust', 'bunnative'];
  if (name.startsWith('sendgso')) return ['node', 'udpx', 'C', 'rust'];
  if (name.startsWith('recvbatch')) return ['node', 'udpx', 'udpxgro', 'C', 'Cgro', 'rust', 'rustgro'];
  if (name.startsWith('flood')) return ['node', 'udpx', 'bun'];
  return ['node', 'udpx', 'C', 'bun', 'bunnative'];
}

// What actually runs: node:dgram's column may be borrowed (BORROW_NODE), skipped ones are left out.
function implsFor(name) {
  let keys = columnsOf(name);
  if (BORROW_NODE[name] && config.selected.includes(BORROW_NODE[name])) keys = keys.filter((k) => k !== 'node');
  return keys.filter((k) => IMPLS[k] && !skipped[k]);
}

function jsChild(impl, role, params, limit, cpu) {
  const opts = { role, module: impl.module, bunNative: !!impl.bunNative, limit, ...params };
  return new Child(
    `${impl.name} ${role}`,
    impl.runtime || process.execPath,
    [WORKER, JSON.stringify(opts)],
    limit + 5,
    cpu,
  );
}

const pinTo = (cpu) => (canPin ? cpu : undefined);

function cChild(mode, args, limit, cpu) {
  return new Child(`C ${mode}`, nativeBin, [mode, ...args.map(String)], limit, cpu);
}

function rustChild(mode, args, limit, cpu) {
  return new Child(`Rust core ${mode}`, LOOPBENCH, [mode, ...args.map(String)], limit, cpu);
}

// With taskset and two CPUs, the process under test runs on CPU 0 and its C peer (sink,
// flooder) on CPU 1, so the scheduler never puts them on one CPU in some rounds and not in
// others; ping-pong pins as its rows say. Otherwise everything runs unpinned.
let canPin = false;
const UNDER_TEST = 0;
const PEER = 1;
function checkPinning() {
  if (!config.pin) return;
  if (os.cpus().length < 2) {
    process.stderr.write('benchmark: fewer than 2 CPUs; every process runs unpinned\n');
    return;
  }
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    canPin = true;
  } catch {
    process.stderr.write('benchmark: taskset unavailable; every process runs unpinned\n');
  }
}

function compileNative() {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udpx-bench-'));
  nativeBin = path.join(tmpDir, 'udpbench');
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-o', nativeBin, NATIVE_SRC], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const detail = err.stderr ? err.stderr.toString() : err.message;
    process.stderr.write(`benchmark: cannot compile ${NATIVE_SRC} with gcc -O2:\n${detail}\n`);
    process.exit(1);
  }
}

// The Rust core's loops: built once per run (deps are cached, so this takes seconds).
function buildRust() {
  try {
    execFileSync('cargo', ['build', '--release', '-p', 'udpx', '--example', 'loopbench'], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 600e3,
    });
    if (!fs.existsSync(LOOPBENCH)) throw new Error(`${LOOPBENCH} missing after the build`);
  } catch (err) {
    const detail = (err.stderr ? err.stderr.toString() : err.message).trim().split('\n').slice(-3).join(' | ');
    skipped.rust = skipped.rustgro = `\`cargo build --release -p udpx --example loopbench\` failed: ${detail}`;
    progress.note(`Rust core skipped: ${skipped.rust}`);
  }
}

// Bun runs the same JS workers twice: through its node:dgram, and on its own Bun.udpSocket.
// Which bun: --bun <path>, else the first `bun` on PATH, else bun@BUN_VERSION from npm,
// installed into this run's temporary directory (removed at exit).
function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir || '.', name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {}
  }
  return null;
}

function installBun() {
  const dir = path.join(tmpDir, 'bun');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n');
  progress.note(`no bun on PATH: installing bun@${BUN_VERSION} from npm into ${dir} (temporary, removed at exit)`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  try {
    execFileSync(
      npm,
      ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', `bun@${BUN_VERSION}`],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300e3 },
    );
  } catch (err) {
    const detail = (err.stderr ? err.stderr.toString() : err.message).trim().split('\n').slice(-2).join(' | ');
    throw new Error(`npm install bun@${BUN_VERSION} failed: ${detail}`);
  }
  // The platform package holds the real executable; node_modules/.bin/bun is the same file
  // once bun's postinstall has run (without it, a placeholder).
  const oven = path.join(dir, 'node_modules', '@oven');
  const candidates = [];
  try {
    for (const p of fs.readdirSync(oven)) candidates.push(path.join(oven, p, 'bin', 'bun'));
  } catch {}
  candidates.push(path.join(dir, 'node_modules', '.bin', 'bun'));
  for (const c of candidates) {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore', timeout: 20e3 });
      return { path: c, how: `bun@${BUN_VERSION} from npm, installed into a temporary directory` };
    } catch {}
  }
  throw new Error(`npm installed bun@${BUN_VERSION} but none of ${candidates.join(', ')} runs`);
}

async function checkBun() {
  if (config.bun === null) {
    skipped.bun = skipped.bunnative = 'Bun left out (--no-bun)';
    return;
  }
  let bun;
  try {
    if (config.bun) bun = { path: path.resolve(config.bun), how: '--bun' };
    else {
      const found = findOnPath('bun');
      bun = found ? { path: found, how: 'on PATH' } : installBun();
    }
  } catch (err) {
    skipped.bun = skipped.bunnative = `Bun skipped: ${err.message}`;
    return;
  }
  try {
    const version = execFileSync(bun.path, ['--version'], { timeout: 20e3 }).toString().trim();
    BUN.version = version;
  } catch (err) {
    skipped.bun = skipped.bunnative = `Bun skipped: ${bun.path} --version failed: ${err.message.split('\n')[0]}`;
    return;
  }
  BUN.path = bun.path;
  BUN.how = bun.how;
  IMPLS.bun.runtime = IMPLS.bunnative.runtime = bun.path;
  for (const key of ['bun', 'bunnative']) {
    const child = jsChild(IMPLS[key], 'check', {}, 20);
    try {
      const res = await child.next();
      if (!res.ok) throw new Error('a datagram sent to itself came back altered');
      await child.exited;
    } catch (err) {
      child.stop('SIGKILL');
      skipped[key] = `${IMPLS[key].name} (${bun.path}) failed the smoke test: ${err.message.split('\n')[0]}`;
      progress.note(skipped[key]);
    }
  }
}

async function checkUdpx() {
  const udpx = IMPLS.udpx;
  let resolved = udpx.module;
  try {
    if (!udpx.module.startsWith('node:')) resolved = require.resolve(udpx.module);
  } catch (err) {
    process.stderr.write(
      `benchmark: udpx is not built: cannot resolve ${udpx.module} (${err.message.split('\n')[0]}).\n` +
        'Run `npm run build` first (or `npm run bench`, which builds).\n',
    );
    process.exit(1);
  }
  const child = jsChild(udpx, 'check', {}, 15);
  try {
    const res = await child.next();
    if (!res.ok) throw new Error('a datagram sent to itself came back altered');
    await child.exited;
  } catch (err) {
    child.stop('SIGKILL');
    process.stderr.write(
      `benchmark: udpx (${resolved}) cannot be loaded or cannot send a datagram to itself:\n` +
        `${err.message}\nRun \`npm run build\` first (or \`npm run bench\`, which builds).\n`,
    );
    process.exit(1);
  }
  udpx.resolved = resolved;
}

// ---------------------------------------------------------------------------------------------
// Measurements. Each run returns an object of named metrics.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A C receiver that counts what arrives (on `nports` sockets of its own); started before,
// stopped after the sender. fn(port, ports).
async function withCReceiver(fn, nports = 1) {
  // A big receive buffer (capped by net.core.rmem_max) so the sink drops as little as it can.
  const rx = cChild('recv', [4 << 20, nports], config.duration + 60, pinTo(PEER));
  try {
    const { port, ports } = await rx.next();
    rx.send('start');
    await rx.next();
    const result = await fn(port, ports || [port]);
    await sleep(100);
    rx.send('stop');
    const got = await rx.next();
    await rx.exited;
    return { ...result, rx: got };
  } finally {
    rx.stop('SIGKILL');
  }
}

async function runSend(impl, size) {
  const limit = config.warmup + config.duration + 30;
  return withCReceiver(async (port) => {
    const tx = impl.kind === 'C'
      ? cChild('sendloop', [port, size, config.duration], limit, pinTo(UNDER_TEST))
      : jsChild(
          impl,
          'send',
          { port, size, duration: config.duration, warmup: config.warmup, burst: 256 },
          limit,
          pinTo(UNDER_TEST),
        );
    try {
      const res = await tx.next();
      await tx.exited;
      return res;
    } finally {
      tx.stop('SIGKILL');
    }
  }).then((r) => ({
    rate: r.sent / r.elapsed,
    sinkShare: r.rx.received / (r.sent + (r.warmupSent || 0)), // what the C sink saw (sanity check)
    errors: r.errors,
  }));
}

// Batched sends. many: 64 datagrams per call spread over 8 sink ports (udpx sendBatch of
// { data, port, address } objects, C and Rust sendmmsg; node:dgram one send() each).
// Otherwise one peer: udpx sendBatch of equal buffers (one UDP GSO send), C and Rust GSO
// sends of the same count, node:dgram one send() each. Rate = datagrams the kernel took / s.
async function runSendBatch(impl, size, many) {
  const limit = config.warmup + config.duration + 30;
  const batch = many ? BATCH : gsoBatch(size);
  const r = await withCReceiver(
    async (port, ports) => {
      const cpu = pinTo(UNDER_TEST);
      const dur = config.duration;
      let tx;
      if (impl.kind === 'C') {
        tx = many
          ? cChild('sendmany', [ports.join(','), size, dur], limit, cpu)
          : cChild('flood', [port, size, dur, 'gso'], limit, cpu);
      } else if (impl.kind === 'rust') {
        tx = many
          ? rustChild('sendmmsg', [ports.join(','), size, dur], limit, cpu)
          : rustChild('gso', [port, size, dur], limit, cpu);
      } else if (impl.key === 'udpx' || impl.key === 'bunnative') {
        // Bun: sendMany([buf, port, host, ...]) of the same datagrams, 4 calls per turn.
        const target = many ? { ports } : { port };
        const p = { ...target, size, duration: dur, warmup: config.warmup, batch, burst: 4, window: 8 };
        tx = jsChild(impl, 'sendbatch', p, limit, cpu);
      } else {
        const p = { port, ports: many ? ports : undefined, size, duration: dur, warmup: config.warmup, burst: 256 };
        tx = jsChild(impl, 'send', p, limit, cpu);
      }
      try {
        const res = await tx.next();
        await tx.exited;
        return res;
      } finally {
        tx.stop('SIGKILL');
      }
    },
    many ? PEERS : 1,
  );
  if (r.method && r.method !== 'gso') throw new Error(`the C flooder could not use UDP GSO (sent with ${r.method})`);
  return {
    rate: r.sent / r.elapsed,
    sinkShare: r.rx.received / (r.sent + (r.warmupSent || 0)),
    perCall: r.calls ? r.sent / r.calls : undefined,
    statsMismatch:
      r.statsSent !== undefined && r.statsSent !== null && r.statsSent < r.sent ? r.sent - r.statsSent : undefined,
    errors: r.errors,
  };
}

// The receiving side of a receive test: a 'message' handler (node:dgram, udpx, Bun), a
// receiveBatches handler (udpx in recvbatch, with or without GRO), or the C / Rust loops.
function receiver(impl, batched, limit) {
  const cpu = pinTo(UNDER_TEST);
  if (impl.kind === 'C') return cChild('recv', [0, 1, impl.gro ? 1 : 0], limit, cpu);
  if (impl.kind === 'rust') return rustChild('recv', [impl.gro ? 1 : 0], limit, cpu);
  if (batched && (impl.key === 'udpx' || impl.key === 'udpxgro')) return jsChild(impl, 'recvbatch', { gro: !!impl.gro }, limit, cpu);
  return jsChild(impl, 'recv', {}, limit, cpu);
}

async function runRecv(impl, size, batched = false) {
  const limit = config.duration + 60;
  const rx = receiver(impl, batched, limit);
  let flood;
  try {
    const { port } = await rx.next();
    rx.send('start');
    await rx.next();
    flood = cChild('flood', [port, size, config.duration, config.flood], config.duration + 30, pinTo(PEER));
    const f = await flood.next();
    await flood.exited;
    await sleep(200); // let the receiver drain what is queued
    rx.send('stop');
    const r = await rx.next();
    await rx.exited;
    return {
      cpuPerDgram: (r.cpu / r.received) * 1e6, // µs
      rate: r.received / f.elapsed,
      dropShare: Math.max(0, f.sent - r.received) / f.sent,
      offered: f.sent / f.elapsed,
      floodMethod: f.method,
      // datagrams per recvmmsg() (C, Rust) or per receiveBatches handler call (udpx)
      perCall: r.calls ? r.received / r.calls : r.batches ? r.received / r.batches : undefined,
      rssGrowth: r.rss !== undefined ? r.rss - r.rss0 : undefined,
      statsMismatch:
        r.statsReceived !== undefined && r.statsReceived !== r.received
          ? `handler counted ${r.received}, stats().datagramsReceived ${r.statsReceived}`
          : undefined,
    };
  } finally {
    rx.stop('SIGKILL');
    if (flood) flood.stop('SIGKILL');
  }
}

// A C flood into a 'message' handler that spins SLOW_US µs per datagram: how far RSS rises
// above its level at the start (the peak of 100 ms samples), and how late a 100 ms timer fires.
async function runFlood(impl, size) {
  const seconds = config.floodSeconds;
  const limit = seconds + 60;
  const rx = jsChild(impl, 'slow', { delayUs: SLOW_US }, limit, pinTo(UNDER_TEST));
  let flood;
  try {
    const { port } = await rx.next();
    rx.send('start');
    await rx.next();
    flood = cChild('flood', [port, size, seconds, config.flood], seconds + 30, pinTo(PEER));
    const f = await flood.next();
    await flood.exited;
    await sleep(300);
    rx.send('stop');
    const r = await rx.next();
    await rx.exited;
    return {
      rssGrowth: r.peak - r.rss0,
      rssAfter: r.rss - r.rss0,
      handled: r.received / f.elapsed,
      offered: f.sent / f.elapsed,
      lateMax: r.lateMax, // ms
    };
  } finally {
    rx.stop('SIGKILL');
    if (flood) flood.stop('SIGKILL');
  }
}

// cpus: [echo server's CPU, client's CPU] when pinning is possible.
async function runPing(impl, cpus) {
  const size = 64;
  const limit = config.pingLimit + 30;
  const [echoCpu, clientCpu] = cpus.map(pinTo);
  const native = impl.kind === 'C';
  const echo = native ? cChild('echo', [], limit, echoCpu) : jsChild(impl, 'echo', {}, limit, echoCpu);
  let client;
  try {
    const { port } = await echo.next();
    const p = { port, size, count: config.pingCount, warmup: config.pingWarmup, duration: config.pingLimit };
    client = native
      ? cChild('ping', [port, size, p.count, p.warmup, p.duration], limit, clientCpu)
      : jsChild(impl, 'ping', p, limit, clientCpu);
    const r = await client.next();
    await client.exited;
    if (!r.n) throw new Error('no round trip completed');
    return { median: r.median / 1000, p99: r.p99 / 1000, n: r.n, lost: r.lost }; // µs
  } finally {
    if (client) client.stop('SIGKILL');
    if (native) await echo.stop('SIGTERM');
    else {
      echo.send('stop');
      await Promise.race([echo.exited, sleep(2000)]);
      await echo.stop('SIGKILL');
    }
  }
}

const RUNNERS = {
  send64: { title: 'send 64 B', run: (impl) => runSend(impl, 64) },
  send1200: { title: 'send 1200 B', run: (impl) => runSend(impl, 1200) },
  recv64: { title: 'receive 64 B', run: (impl) => runRecv(impl, 64) },
  recv1200: { title: 'receive 1200 B', run: (impl) => runRecv(impl, 1200) },
  sendmany64: { title: 'batched send to 8 peers 64 B', run: (impl) => runSendBatch(impl, 64, true) },
  sendmany1200: { title: 'batched send to 8 peers 1200 B', run: (impl) => runSendBatch(impl, 1200, true) },
  sendgso64: { title: 'batched send to one peer (GSO) 64 B', run: (impl) => runSendBatch(impl, 64, false) },
  sendgso1200: { title: 'batched send to one peer (GSO) 1200 B', run: (impl) => runSendBatch(impl, 1200, false) },
  recvbatch64: { title: 'batched receive 64 B', run: (impl) => runRecv(impl, 64, true) },
  recvbatch1200: { title: 'batched receive 1200 B', run: (impl) => runRecv(impl, 1200, true) },
  flood64: { title: 'flood with a slow handler 64 B', run: (impl) => runFlood(impl, 64) },
  rtt1cpu: { title: 'ping-pong, one CPU', run: (impl) => runPing(impl, [0, 0]) },
  rtt2cpu: { title: 'ping-pong, two CPUs', run: (impl) => runPing(impl, [0, 1]) },
};

// ---------------------------------------------------------------------------------------------
// Progress on stderr: one line rewritten in place on a terminal, plain lines otherwise.

const progress = {
  tty: process.stderr.isTTY,
  shown: false,
  show(text) {
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${text}`);
      this.shown = true;
    } else process.stderr.write(`${text}\n`);
  },
  clear() {
    if (this.tty && this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  },
  // A line of its own that stays, under the progress line.
  note(text) {
    this.clear();
    process.stderr.write(`benchmark: ${text}\n`);
  },
};

// ---------------------------------------------------------------------------------------------
// Noise from outside: CPU time that other processes used while we ran (Linux /proc only).
// Machine-wide user+nice+system minus our own and our children's user+system; softirq time
// is left out because the loopback traffic of the benchmark itself is counted there.

function cpuSnapshot() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const own = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ').map(Number);
    // /proc/self/stat after the name: utime, stime, cutime, cstime are fields 14..17 (index 11..14 here)
    return {
      busy: f[0] + f[1] + f[2],
      total: f.reduce((a, b) => a + b, 0),
      steal: f[7] || 0,
      own: own[11] + own[12] + own[13] + own[14],
    };
  } catch {
    return null;
  }
}

// others: share of all CPU time; ticks: the same in clock ticks (1/100 s), to tell real
// disturbance from rounding in short runs.
function foreignLoad(a, b) {
  if (!a || !b || b.total <= a.total) return null;
  const ticks = Math.max(0, b.busy - a.busy - (b.own - a.own));
  return { others: ticks / (b.total - a.total), ticks, steal: (b.steal - a.steal) / (b.total - a.total) };
}

// Runs one measurement; while other processes took more than DISTURBED of the machine's CPU
// during it, waits for the machine to calm down and runs it again (config.retries times at
// most), keeping the least disturbed attempt.
const DISTURBED = 0.05;

// Waits until other processes use at most DISTURBED of the CPU over one second, or until
// the run's whole waiting budget (noise.budget, seconds) is spent. Returns whether it got quiet.
async function waitQuiet(noise, why) {
  let announced = false;
  while (noise.budget > 0) {
    const before = cpuSnapshot();
    await sleep(1000);
    const load = foreignLoad(before, cpuSnapshot());
    if (!load || load.others <= DISTURBED) return true;
    noise.budget--;
    noise.waited++;
    if (!announced) progress.note(`${why}: other processes use ${fmtPct(load.others)} of the CPU; waiting for quiet`);
    announced = true;
  }
  return false;
}

async function runUndisturbed(m, impl, noise) {
  let best = null;
  noise.runs++;
  for (let attempt = 0; attempt <= config.retries; attempt++) {
    const before = cpuSnapshot();
    const result = await m.run(impl);
    const load = foreignLoad(before, cpuSnapshot());
    result.foreign = load ? load.others : 0;
    if (!best || result.foreign < best.foreign) best = result;
    // Ten ticks (0.1 s) or less is rounding noise, whatever share of a short run it is.
    if (!load || result.foreign <= DISTURBED || load.ticks <= 10) return best;
    progress.note(
      `${m.title} · ${impl.name}: other processes took ${fmtPct(result.foreign)} of the CPU; ${attempt < config.retries ? 'repeating' : 'keeping the least disturbed attempt'}`,
    );
    if (attempt === 0) noise.repeated++;
    if (attempt < config.retries) await waitQuiet(noise, `${m.title} · ${impl.name}`);
  }
  noise.disturbed++;
  return best;
}

// ---------------------------------------------------------------------------------------------
// Report

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function fmtRate(x) {
  if (!Number.isFinite(x)) return 'n/a';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M/s`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(0)} k/s`;
  return `${x.toFixed(0)} /s`;
}
const fmtUs = (x) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(1)} µs` : 'n/a');
const fmtPct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : 'n/a');
const fmtMiB = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x / 1048576).toFixed(1)} MiB` : 'n/a');
const fmtRatio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');

// A target: { text, ok(v) } where v holds the medians of one row by implementation key
// (node, udpx, C, rust, bun, bunnative); ok returns null when a value it needs is missing.
const known = (...xs) => xs.every(Number.isFinite);
const T = {
  // udpx ≥ x times another implementation (rates)
  atLeast: (key, x, text) => ({ text, ok: (v) => (known(v.udpx, v[key]) ? v.udpx >= x * v[key] : null) }),
  // udpx ≤ x times another implementation (CPU, RTT)
  atMost: (key, x, text) => ({ text, ok: (v) => (known(v.udpx, v[key]) ? v.udpx <= x * v[key] : null) }),
  // udpx ≤ another implementation plus `plus` (bytes)
  within: (key, plus, text) => ({ text, ok: (v) => (known(v.udpx, v[key]) ? v.udpx <= v[key] + plus : null) }),
};

function verdict(v, targets) {
  if (!targets || !targets.length) return '—';
  return targets
    .map((t) => {
      const ok = t.ok(v);
      return `${t.text}: ${ok === null ? 'n/a' : ok ? 'met' : 'missed'}`;
    })
    .join('; ');
}

// The medians of one row. keys renames columns, e.g. { udpx: 'udpxgro' } for the GRO rows.
function medians(values, keys = {}) {
  const v = {};
  for (const k of Object.keys(IMPLS)) v[k] = median(values[keys[k] || k] || []);
  return v;
}

// A row with a Rust core column too. values: arrays by implementation key; keys as in medians().
function row4(label, values, fmt, targets, keys = {}) {
  const v = medians(values, keys);
  return `| ${label} | ${fmt(v.node)} | ${fmt(v.udpx)} | ${fmtRatio(v.udpx / v.node)} | ${fmt(v.C)} | ${fmtRatio(v.udpx / v.C)} | ${fmt(v.rust)} | ${fmtRatio(v.udpx / v.rust)} | ${verdict(v, targets)} |`;
}

function metric(results, name, key) {
  const out = {};
  for (const k of Object.keys(IMPLS)) out[k] = (results[name]?.[k] || []).map((r) => r[key]);
  return out;
}

// The targets of issue 6 (DESIGN.md): ratios from one run on one machine.
const MiB = 1 << 20;
const TARGETS = {
  send: [T.atLeast('node', 1.3, '≥ 1.3× node'), T.atLeast('bunnative', 1, '≥ Bun udpSocket')],
  recv: [T.atMost('bun', 1, '≤ Bun node:dgram'), T.atMost('node', 0.5, '≤ 0.5× node')],
  rtt: [T.atMost('node', 0.9, '≤ 0.9× node'), T.atMost('bun', 1, '≤ Bun node:dgram')],
  rttP99: [T.atMost('node', 1, '≤ node')],
  sendgso: [T.atLeast('C', 0.9, '≥ 0.9× C UDP_SEGMENT')],
  sendmany: [T.atLeast('C', 0.9, '≥ 0.9× C sendmmsg')],
  recvbatch: [T.atMost('C', 1.15, '≤ 1.15× C recvmmsg')],
  recvgro: [],
  flood: [T.within('node', 10 * MiB, "≤ node:dgram's + 10 MiB")],
};

// The summary (the README's table): [measurement, metric, label, format, targets, keys, bun]
// where bun names the Bun column the udpx/Bun ratio compares with (the one the target names).
const SUMMARY = [
  ['send64', 'rate', '`send()` per call, 64 B (datagrams/s)', fmtRate, TARGETS.send, {}, 'bunnative'],
  ['send1200', 'rate', '`send()` per call, 1200 B (datagrams/s)', fmtRate, [], {}, 'bunnative'],
  ['recv64', 'cpuPerDgram', "`'message'` CPU per datagram, 64 B, saturated", fmtUs, TARGETS.recv, {}, 'bun'],
  ['recv1200', 'cpuPerDgram', "`'message'` CPU per datagram, 1200 B, saturated", fmtUs, TARGETS.recv, {}, 'bun'],
  ['rtt1cpu', 'median', 'ping-pong RTT median, 64 B, one CPU', fmtUs, TARGETS.rtt, {}, 'bun'],
  ['rtt2cpu', 'median', 'ping-pong RTT median, 64 B, two CPUs', fmtUs, [], {}, 'bun'],
  ['sendgso64', 'rate', '`sendBatch` to one peer (GSO), 64 B (datagrams/s)', fmtRate, TARGETS.sendgso, {}, null],
  ['sendgso1200', 'rate', '`sendBatch` to one peer (GSO), 1200 B (datagrams/s)', fmtRate, TARGETS.sendgso, {}, null],
  ['sendmany64', 'rate', `\`sendBatch\` over ${PEERS} ports, 64 B (datagrams/s)`, fmtRate, TARGETS.sendmany, {}, 'bunnative'],
  ['sendmany1200', 'rate', `\`sendBatch\` over ${PEERS} ports, 1200 B (datagrams/s)`, fmtRate, TARGETS.sendmany, {}, 'bunnative'],
  ['recvbatch64', 'cpuPerDgram', '`receiveBatches` CPU per datagram, 64 B', fmtUs, TARGETS.recvbatch, {}, null],
  ['recvbatch1200', 'cpuPerDgram', '`receiveBatches` CPU per datagram, 1200 B', fmtUs, TARGETS.recvbatch, {}, null],
  [
    'recvbatch64',
    'cpuPerDgram',
    '`receiveBatches` with GRO, 64 B (udpx, C and Rust with GRO)',
    fmtUs,
    TARGETS.recvgro,
    { udpx: 'udpxgro', C: 'Cgro', rust: 'rustgro' },
    null,
  ],
  ['flood64', 'rssGrowth', `flood, ${SLOW_US} µs handler: RSS growth`, fmtMiB, TARGETS.flood, {}, 'bun'],
];

// The wide table (per-call rows and the summary): every implementation side by side.
const WIDE_HEAD = [
  '| measurement | node:dgram | Bun node:dgram | Bun udpSocket | C | Rust core | udpx | udpx/node | udpx/Bun | udpx/C | target |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
];
const WIDE_NOTE =
  'udpx/Bun compares with the Bun column the target names: `udpSocket.send` / `sendMany` for sends, Bun\'s node:dgram ' +
  'for receive, round trips and the flood; RSS rows show differences (udpx minus the other), not ratios. ' +
  'A dash: that implementation has no such run.';

// One row of the wide table for measurement `name`, metric `key`. keys renames columns (GRO
// rows); bunKey is the Bun column of the udpx/Bun ratio (null: none).
function wideRow(results, name, key, label, fmt, targets, keys = {}, bunKey = null) {
  const v = medians(metric(results, name, key), keys);
  const has = (k) => columnsOf(name).includes(keys[k] || k);
  const cell = (k) => (has(k) ? fmt(v[k]) : '—');
  // Memory rows compare by difference (the target is node:dgram's growth + 10 MiB), the rest by ratio.
  const ratio = (k) => (!k || !has(k) ? '—' : fmt === fmtMiB ? fmtMiB(v.udpx - v[k]) : fmtRatio(v.udpx / v[k]));
  const cells = ['node', 'bun', 'bunnative', 'C', 'rust', 'udpx'].map(cell);
  return `| ${label} | ${cells.join(' | ')} | ${ratio('node')} | ${ratio(bunKey)} | ${ratio('C')} | ${verdict(v, targets)} |`;
}

const ROW4_HEAD = (udpx, c, rust, better) => [
  `| measurement | node:dgram | ${udpx} | udpx/node (${better}) | ${c} | udpx/C | ${rust} | udpx/Rust | target |`,
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
];

function report(results, failures, started, load0, foreign, noise) {
  const cpu = os.cpus();
  const lines = [];
  const udpx = IMPLS.udpx;
  const machine = `${cpu[0]?.model.trim() || 'unknown CPU'}, ${cpu.length} CPUs, ${os.type()} ${os.release()}`;
  lines.push('## udpx vs node:dgram vs Bun vs C vs the Rust core — loopback UDP (127.0.0.1)', '');
  lines.push(`- machine: ${machine}`);
  lines.push(
    `- node ${process.version}; udpx = \`${path.relative(process.cwd(), udpx.resolved) || udpx.resolved}\`; C = gcc -O2; ` +
      `Rust core = \`${path.relative(process.cwd(), LOOPBENCH)}\` (cargo --release)` +
      (skipped.rust ? ' — not built, skipped' : '') +
      `; ${skipped.bun && skipped.bunnative ? skipped.bun : `Bun ${BUN.version} = \`${BUN.path}\` (${BUN.how})`}`,
  );
  lines.push(`- date: ${started.toISOString()}`);
  lines.push(
    `- noise: load average ${load0.toFixed(2)} at the start; ` +
      (foreign
        ? `during the run other processes used ${fmtPct(foreign.others)} of all CPU time, hypervisor steal ${fmtPct(foreign.steal)}; ` +
          `${noise.repeated} of ${noise.runs} runs repeated because other processes took > ${fmtPct(DISTURBED)} of the CPU during them` +
          (noise.disturbed
            ? `, ${noise.disturbed} still disturbed after ${config.retries} repeats (least disturbed attempt kept)`
            : '') +
          (noise.waited ? `; waited ${noise.waited} s in all for quiet` : '')
        : 'CPU use of other processes unknown (no /proc)'),
  );
  lines.push(
    `- ${config.rounds} round(s) per measurement, implementations alternating; median shown; ` +
      `send/receive runs ${config.duration} s each${config.quick ? ' (--quick)' : ''}`,
  );
  lines.push('');

  const has = (n) => results[n];
  if (has('send64') || has('send1200')) {
    lines.push('### Send, one datagram per call (datagrams/s; higher is better)', '');
    lines.push(
      "Sender: `socket.send(buf, port, '127.0.0.1')` without callback, yielding via `setImmediate` every 256 calls, " +
        `after ${config.warmup} s of warm-up; the rate counts up to the callback of a last send, so queued datagrams are included. ` +
        `C: a \`sendto()\` loop. Receiver: a C \`recvmmsg()\` sink (SO_RCVBUF 4 MiB).${canPin ? ' Sender on CPU 0, sink on CPU 1 (taskset).' : ''}`,
      '',
    );
    lines.push(
      "Bun: the same worker through Bun's node:dgram, and a `Bun.udpSocket` loop of `send(buf, port, host)` that waits for " +
        '`drain` when a send returns false. C: a `sendto()` loop.',
      '',
    );
    lines.push(...WIDE_HEAD);
    if (has('send64')) lines.push(wideRow(results, 'send64', 'rate', 'send 64 B', fmtRate, TARGETS.send, {}, 'bunnative'));
    if (has('send1200')) lines.push(wideRow(results, 'send1200', 'rate', 'send 1200 B', fmtRate, [], {}, 'bunnative'));
    lines.push('', WIDE_NOTE, '');
    lines.push('| share of the sent datagrams the sink received | node:dgram | Bun node:dgram | Bun udpSocket | C sendto | udpx |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const [name, size] of [
      ['send64', 64],
      ['send1200', 1200],
    ]) {
      if (!has(name)) continue;
      const share = medians(metric(results, name, 'sinkShare'));
      lines.push(`| ${size} B | ${['node', 'bun', 'bunnative', 'C', 'udpx'].map((k) => fmtPct(share[k])).join(' | ')} |`);
    }
    lines.push('');
  }
  if (has('recv64') || has('recv1200')) {
    lines.push("### Receive into per-datagram `'message'` handlers (CPU time per datagram; lower is better)", '');
    const methods = new Set();
    const perCall = [];
    for (const name of ['recv64', 'recv1200']) {
      for (const r of Object.values(results[name] || {}).flat()) {
        if (r.floodMethod) methods.add(r.floodMethod);
        if (r.perCall) perCall.push(r.perCall);
      }
    }
    const how = [...methods]
      .map((m) => (m === 'gso' ? 'UDP GSO buffers of up to 64 datagrams' : '`sendmmsg()` batches of 64'))
      .join(' / ');
    lines.push(
      `A C flooder sends as fast as it can (${how || 'n/a'}); the receiver counts datagrams in its \`'message'\` handler. ` +
        'CPU = user + system time of the whole receiving process (all its threads) from just before the flood until 0.2 s after it, ' +
        `divided by the datagrams received. C: a \`recvmmsg()\` loop, 64 per call (${perCall.length ? median(perCall).toFixed(1) : 'n/a'} per call on average here), \`poll()\` when empty. ` +
        `Default receive buffer (SO_RCVBUF) everywhere; no receiver enables UDP_GRO (opt-in in udpx), so each datagram arrives on its own.${canPin ? ' Receiver on CPU 0, flooder on CPU 1 (taskset).' : ''}`,
      '',
    );
    lines.push(
      "Bun: the same worker through Bun's node:dgram, and a `Bun.udpSocket` with a `data(socket, buf, port, address)` handler.",
      '',
    );
    lines.push(...WIDE_HEAD);
    if (has('recv64'))
      lines.push(wideRow(results, 'recv64', 'cpuPerDgram', 'receive 64 B: CPU / datagram', fmtUs, TARGETS.recv, {}, 'bun'));
    if (has('recv1200'))
      lines.push(wideRow(results, 'recv1200', 'cpuPerDgram', 'receive 1200 B: CPU / datagram', fmtUs, TARGETS.recv, {}, 'bun'));
    lines.push('', WIDE_NOTE, '');
    const cols = ['node', 'bun', 'bunnative', 'udpx', 'C'];
    lines.push(`| under the same flood | ${cols.map((k) => IMPLS[k].name).join(' | ')} |`);
    lines.push(`| --- |${cols.map(() => ' ---: |').join('')}`);
    for (const [name, size] of [
      ['recv64', 64],
      ['recv1200', 1200],
    ]) {
      if (!has(name)) continue;
      const line = (what, key, fmt) => {
        const v = medians(metric(results, name, key));
        return `| ${size} B: ${what} | ${cols.map((k) => (k === 'C' && key === 'rssGrowth' ? '—' : fmt(v[k]))).join(' | ')} |`;
      };
      lines.push(line('received datagrams/s (higher is better)', 'rate', fmtRate));
      lines.push(line('dropped (lower is better)', 'dropShare', fmtPct));
      lines.push(line('offered by the flooder', 'offered', fmtRate));
      lines.push(line('RSS growth during the flood', 'rssGrowth', fmtMiB));
    }
    lines.push('');
  }
  if (has('flood64')) {
    lines.push(`### Flood with a slow handler (RSS growth; lower is better)`, '');
    lines.push(
      `The C flooder of the receive test (64 B) for ${config.floodSeconds} s into a \`'message'\` handler that spins ${SLOW_US} µs per datagram, ` +
        'so nearly everything offered is dropped somewhere (in the kernel, or in a bounded queue of udpx). RSS sampled every 100 ms ' +
        'from just before the flood until 0.3 s after it; growth = the peak minus the level at the start. Target: udpx within ' +
        "node:dgram's growth + 10 MiB. Also how late a 100 ms interval timer fired at worst (event-loop delay).",
      '',
    );
    const cols = ['node', 'bun', 'udpx'];
    lines.push(`| 64 B flood, ${SLOW_US} µs handler | ${cols.map((k) => IMPLS[k].name).join(' | ')} | target |`);
    lines.push(`| --- |${cols.map(() => ' ---: |').join('')} --- |`);
    const line = (what, key, fmt, targets) => {
      const v = medians(metric(results, 'flood64', key));
      return `| ${what} | ${cols.map((k) => fmt(v[k])).join(' | ')} | ${targets ? verdict(v, targets) : '—'} |`;
    };
    lines.push(line('RSS growth, peak', 'rssGrowth', fmtMiB, TARGETS.flood));
    lines.push(line('RSS growth, 0.3 s after the flood', 'rssAfter', fmtMiB));
    lines.push(line('datagrams handled /s', 'handled', fmtRate));
    lines.push(line('offered by the flooder', 'offered', fmtRate));
    lines.push(line('timer lateness, worst', 'lateMax', (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'n/a')));
    lines.push('');
  }
  const pinNote = canPin ? ' Sender on CPU 0, sink on CPU 1 (taskset).' : '';
  if (has('sendmany64') || has('sendmany1200')) {
    lines.push('### Batched send to many peers (datagrams/s; higher is better)', '');
    lines.push(
      `${BATCH} datagrams per call, destinations cycling over ${PEERS} ports of a C \`recvmmsg()\` sink (one socket per port, SO_RCVBUF 4 MiB). ` +
        `udpx: \`sendBatch([{ data, port, address }, ...], cb)\` (sendmmsg), up to 4 calls per event-loop turn and 8 awaiting their callback, ` +
        'counting the `sent` the callbacks report; node:dgram: one `send()` per datagram (the per-call run when it ran too); ' +
        'Bun: `udpSocket.sendMany([buf, port, host, ...])` of the same 64 datagrams, 4 calls per event-loop turn; ' +
        `C: a \`sendmmsg()\` loop; Rust core: a \`UdpSocket::send_batch\` loop.${pinNote}`,
      '',
    );
    lines.push(...WIDE_HEAD);
    for (const [name, size] of [
      ['sendmany64', 64],
      ['sendmany1200', 1200],
    ]) {
      if (has(name))
        lines.push(wideRow(results, name, 'rate', `${size} B to ${PEERS} peers`, fmtRate, TARGETS.sendmany, {}, 'bunnative'));
    }
    lines.push('');
  }
  if (has('sendgso64') || has('sendgso1200')) {
    lines.push('### Batched send to one peer, UDP GSO (datagrams/s; higher is better)', '');
    lines.push(
      'udpx: `sendBatch(buffers, port, address, cb)` with equal buffers, one UDP GSO send per call ' +
        `(${gsoBatch(64)} datagrams of 64 B, ${gsoBatch(1200)} of 1200 B: the kernel takes at most 64 segments and 64 KiB), ` +
        'paced as above; node:dgram: one `send()` per datagram; C: a GSO `sendmsg()` loop of the same buffers (the receive test\'s flooder); ' +
        'Rust core: a `UdpSocket::send_segments` loop. Datagrams counted as the kernel took them; a C sink (no GRO) receives what it can.' +
        pinNote,
      '',
    );
    lines.push(...ROW4_HEAD('udpx sendBatch', 'C GSO', 'Rust send_segments', '>1: udpx faster'));
    for (const [name, size] of [
      ['sendgso64', 64],
      ['sendgso1200', 1200],
    ]) {
      if (has(name)) lines.push(row4(`${size} B to one peer`, metric(results, name, 'rate'), fmtRate, TARGETS.sendgso));
    }
    lines.push('');
  }
  if (has('sendmany64') || has('sendmany1200') || has('sendgso64') || has('sendgso1200')) {
    lines.push('| batched send, sanity | node:dgram | udpx | C | Rust core |');
    lines.push('| --- | ---: | ---: | ---: | ---: |');
    for (const name of ['sendmany64', 'sendmany1200', 'sendgso64', 'sendgso1200']) {
      if (!has(name)) continue;
      const share = metric(results, name, 'sinkShare');
      lines.push(
        `| ${RUNNERS[name].title}: share the sink received | ${fmtPct(median(share.node))} | ${fmtPct(median(share.udpx))} | ${fmtPct(median(share.C))} | ${fmtPct(median(share.rust))} |`,
      );
    }
    lines.push('');
  }
  if (has('recvbatch64') || has('recvbatch1200')) {
    lines.push('### Batched receive (CPU time per datagram; lower is better)', '');
    lines.push(
      "The same C GSO flood as the receive test above. node:dgram: a `'message'` handler (it has no batches); " +
        'udpx: a `receiveBatches(handler)` handler adding `batch.length` per wake-up, and the same with ' +
        "`createSocket({ type: 'udp4', gro: true })`: with UDP GRO loopback hands each GSO buffer to the socket as one " +
        'coalesced run, which udpx splits back into datagrams. C: the `recvmmsg()` loop (64 slots), with GRO 64 KiB slots and datagrams ' +
        'counted from the UDP_GRO segment size; Rust core: a `UdpSocket::recv_batch` loop (64 slots), with GRO after `set_gro(true)` — ' +
        'the practical limit of the core. Default receive buffer everywhere.' +
        (canPin ? ' Receiver on CPU 0, flooder on CPU 1 (taskset).' : ''),
      '',
    );
    lines.push(...ROW4_HEAD('udpx receiveBatches', 'C recvmmsg', 'Rust recv_batch', '<1: udpx cheaper'));
    const gro = { udpx: 'udpxgro', C: 'Cgro', rust: 'rustgro' };
    for (const [name, size] of [
      ['recvbatch64', 64],
      ['recvbatch1200', 1200],
    ]) {
      if (!has(name)) continue;
      const m = metric(results, name, 'cpuPerDgram');
      lines.push(row4(`${size} B, no GRO`, m, fmtUs, TARGETS.recvbatch));
      lines.push(row4(`${size} B, GRO (udpx, C and Rust)`, m, fmtUs, TARGETS.recvgro, gro));
    }
    lines.push('');
    const keys = ['node', 'udpx', 'udpxgro', 'C', 'Cgro', 'rust', 'rustgro'];
    lines.push(`| under the same flood | ${keys.map((k) => IMPLS[k].name).join(' | ')} |`);
    lines.push(`| --- |${keys.map(() => ' ---: |').join('')}`);
    for (const [name, size] of [
      ['recvbatch64', 64],
      ['recvbatch1200', 1200],
    ]) {
      if (!has(name)) continue;
      const line = (what, key, fmt) => {
        const m = metric(results, name, key);
        return `| ${size} B: ${what} | ${keys.map((k) => fmt(median(m[k]))).join(' | ')} |`;
      };
      lines.push(line('received datagrams/s', 'rate', fmtRate));
      lines.push(line('dropped', 'dropShare', fmtPct));
      lines.push(line('offered by the flooder', 'offered', fmtRate));
      lines.push(line('datagrams per handler call / recvmmsg', 'perCall', (x) => (Number.isFinite(x) ? x.toFixed(1) : '—')));
      lines.push(line('RSS growth during the flood', 'rssGrowth', (x) => (Number.isFinite(x) ? fmtMiB(x) : '—')));
    }
    lines.push('');
  }
  if (has('rtt1cpu') || has('rtt2cpu')) {
    lines.push(`### Round trip, ping-pong 64 B (µs; lower is better)`, '');
    lines.push(
      `Client and echo server of the same implementation, in two processes; ${config.pingCount} round trips after ${config.pingWarmup} warm-up, ` +
        "each timed with `process.hrtime.bigint()` (C: `clock_gettime`). JS echo: `send(msg, rinfo.port, rinfo.address)` in the `'message'` handler. " +
        'C: blocking `sendto`/`recv` client, `recvfrom`/`sendto` echo. ' +
        (canPin
          ? '"one CPU": both processes (all threads) pinned to CPU 0 with taskset; "two CPUs": echo on CPU 0, client on CPU 1, so every hop wakes the other CPU.'
          : 'Both variants ran unpinned (no taskset, one CPU, or --no-pin), so they differ only by chance.'),
      '',
    );
    lines.push(...WIDE_HEAD);
    for (const [name, where] of [
      ['rtt1cpu', 'one CPU'],
      ['rtt2cpu', 'two CPUs'],
    ]) {
      if (!has(name)) continue;
      const targets = name === 'rtt1cpu' ? TARGETS.rtt : [];
      lines.push(wideRow(results, name, 'median', `RTT median, ${where}`, fmtUs, targets, {}, 'bun'));
      lines.push(wideRow(results, name, 'p99', `RTT p99, ${where}`, fmtUs, TARGETS.rttP99, {}, 'bun'));
    }
    lines.push('', WIDE_NOTE, '');
  }

  // Every round's value, to judge the noise behind the medians.
  if (config.rounds > 1) {
    const spread = [
      ['send64', 'rate', fmtRate, 'send 64 B'],
      ['send1200', 'rate', fmtRate, 'send 1200 B'],
      ['sendmany64', 'rate', fmtRate, 'batched send to 8 peers 64 B'],
      ['sendmany1200', 'rate', fmtRate, 'batched send to 8 peers 1200 B'],
      ['sendgso64', 'rate', fmtRate, 'batched send to one peer 64 B'],
      ['sendgso1200', 'rate', fmtRate, 'batched send to one peer 1200 B'],
      ['recv64', 'cpuPerDgram', fmtUs, 'receive 64 B CPU/datagram'],
      ['recv1200', 'cpuPerDgram', fmtUs, 'receive 1200 B CPU/datagram'],
      ['recvbatch64', 'cpuPerDgram', fmtUs, 'batched receive 64 B CPU/datagram'],
      ['recvbatch1200', 'cpuPerDgram', fmtUs, 'batched receive 1200 B CPU/datagram'],
      ['flood64', 'rssGrowth', fmtMiB, 'flood with a slow handler: RSS growth'],
      ['rtt1cpu', 'median', fmtUs, 'RTT median, one CPU'],
      ['rtt1cpu', 'p99', fmtUs, 'RTT p99, one CPU'],
      ['rtt2cpu', 'median', fmtUs, 'RTT median, two CPUs'],
      ['rtt2cpu', 'p99', fmtUs, 'RTT p99, two CPUs'],
    ].filter(([n]) => has(n));
    if (spread.length) {
      lines.push('<details><summary>every round (spread behind the medians)</summary>', '');
      lines.push('| measurement | implementation: value per round |');
      lines.push('| --- | --- |');
      for (const [name, key, fmt, label] of spread) {
        const m = metric(results, name, key);
        const cells = Object.keys(results[name])
          .filter((k) => m[k].length)
          .map((k) => `${IMPLS[k].name}: ${m[k].map(fmt).join(', ')}`);
        lines.push(`| ${label} | ${cells.join('; ')} |`);
      }
      lines.push('', '</details>', '');
    }
  }

  // Things that make a number less trustworthy without failing the run.
  const anomalies = [];
  for (const [name, m] of Object.entries(results)) {
    for (const [key, runs] of Object.entries(m)) {
      const who = `${RUNNERS[name].title} · ${IMPLS[key].name}`;
      for (const r of runs) {
        if (r.errors) anomalies.push(`${who}: ${r.errors} send errors`);
        if (r.statsMismatch) anomalies.push(`${who}: stats() disagrees: ${r.statsMismatch}`);
        if (r.lost) anomalies.push(`${who}: ${r.lost} round trips resent after 200 ms without a reply`);
        if (r.n !== undefined && r.n < config.pingCount)
          anomalies.push(`${who}: only ${r.n} of ${config.pingCount} round trips within ${config.pingLimit} s`);
      }
    }
  }
  if (anomalies.length) {
    lines.push('### Anomalies', '');
    for (const a of anomalies) lines.push(`- ${a}`);
    lines.push('');
  }

  if (failures.length) {
    lines.push('### Failed runs', '');
    for (const f of failures) lines.push(`- ${f.replace(/\n/g, ' | ')}`);
    lines.push('');
  }

  // The final table, ready for the README: every measurement of this run on one line each.
  const summary = SUMMARY.filter(([n]) => has(n));
  if (summary.length) {
    const bun = skipped.bun && skipped.bunnative ? `no Bun (${skipped.bun})` : `Bun ${BUN.version} (${BUN.how})`;
    lines.push('### Summary', '');
    lines.push(
      `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${machine} · Node ${process.version} · ${bun} · ` +
        `medians of ${config.rounds} round(s), ratios from this one run.`,
      '',
    );
    lines.push(...WIDE_HEAD);
    for (const [name, key, label, fmt, targets, keys, bunKey] of summary) {
      lines.push(wideRow(results, name, key, label, fmt, targets, keys, bunKey));
    }
    lines.push('');
    lines.push(
      'Rates: higher is better; CPU, RTT and RSS: lower is better. udpx runs unchanged node:dgram code in the per-call rows; ' +
        "in the batched rows it uses `sendBatch` / `receiveBatches` while node:dgram's column is its per-call run; C and " +
        'the Rust core use `sendto`, UDP GSO (`UDP_SEGMENT`), `sendmmsg` or `recvmmsg` as their section says; Bun udpSocket ' +
        '`sendMany` in the 8-port row. ' +
        WIDE_NOTE,
      '',
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  config = parseArgs(process.argv.slice(2));
  IMPLS = {
    node: { key: 'node', name: 'node:dgram', kind: 'js', module: 'node:dgram' },
    udpx: { key: 'udpx', name: 'udpx', kind: 'js', module: config.udpx },
    udpxgro: { key: 'udpxgro', name: 'udpx (GRO)', kind: 'js', module: config.udpx, gro: true },
    C: { key: 'C', name: 'C', kind: 'C' },
    Cgro: { key: 'Cgro', name: 'C (GRO)', kind: 'C', gro: true },
    rust: { key: 'rust', name: 'Rust core', kind: 'rust' },
    rustgro: { key: 'rustgro', name: 'Rust core (GRO)', kind: 'rust', gro: true },
    bun: { key: 'bun', name: 'Bun node:dgram', kind: 'js', module: 'node:dgram' },
    bunnative: { key: 'bunnative', name: 'Bun udpSocket', kind: 'js', module: null, bunNative: true },
  };
  await checkUdpx();
  compileNative();
  checkPinning();
  if (config.selected.some((n) => implsFor(n).includes('rust'))) {
    progress.show('building the Rust core loops (cargo build --release -p udpx --example loopbench)');
    buildRust();
  }
  await checkBun();
  if (skipped.bun) progress.note(skipped.bun);

  // budget: seconds the whole benchmark may spend waiting for other processes to calm down.
  const noise = { runs: 0, repeated: 0, disturbed: 0, waited: 0, budget: config.quick ? 20 : 60 };
  await waitQuiet(noise, 'before the start');
  const started = new Date();
  const snap0 = cpuSnapshot();
  const load0 = os.loadavg()[0];
  const results = {};
  const failures = [];
  const total = config.selected.reduce((sum, n) => sum + implsFor(n).length * config.rounds, 0);
  let step = 0;
  for (const name of config.selected) {
    const m = RUNNERS[name];
    const impls = implsFor(name).map(implOf);
    results[name] = {};
    for (const impl of impls) results[name][impl.key] = [];
    for (let round = 0; round < config.rounds; round++) {
      // Rotate the order each round so no implementation always runs first or last.
      const order = impls.map((_, i) => impls[(i + round) % impls.length]);
      for (const impl of order) {
        step++;
        progress.show(`[${step}/${total}] ${m.title} · ${impl.name} · round ${round + 1}/${config.rounds}`);
        try {
          results[name][impl.key].push(await runUndisturbed(m, impl, noise));
        } catch (err) {
          failures.push(`${m.title} · ${impl.name} · round ${round + 1}: ${err.message}`);
          progress.note(failures[failures.length - 1]);
        }
      }
    }
  }
  // node:dgram columns that are the same run as an earlier measurement's (BORROW_NODE).
  for (const name of config.selected) {
    const from = BORROW_NODE[name];
    if (from && results[from] && !results[name].node) results[name].node = results[from].node;
  }
  progress.note(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const foreign = foreignLoad(snap0, cpuSnapshot());
  if (foreign && foreign.others > DISTURBED) {
    progress.note(
      `warning: other processes used ${fmtPct(foreign.others)} of the machine's CPU during the run; numbers are noisy`,
    );
  }
  process.stdout.write(report(results, failures, started, load0, foreign, noise) + '\n');
  cleanup();
  process.exitCode = failures.length ? 1 : 0;
}

main().catch((err) => {
  progress.clear();
  process.stderr.write(`benchmark: ${err.stack || err}\n`);
  cleanup();
  process.exit(1);
});
