// Differential suite: every scenario in differential/scenarios.ts runs in two
// child processes, one on node:dgram and one on udpx, and the traces must be
// deep-equal (events, callback arguments, return values, thrown errors, their
// order and timing markers, and whether the process exits by itself).
//
// UDPX_DIFF_IMPL=node2 runs the second side on node:dgram as well, to check
// that the scenarios themselves are deterministic.

import test from 'ava';
import { limiter, nodeCommand } from './helpers';
import { spawn } from 'child_process';
import * as path from 'path';
import { scenarios, Scenario } from './differential/scenarios';
import { ChildResult, DEFAULT_MS, HANG_MS, TRACE_MARK } from './differential/child';

const CHILD = path.join(__dirname, 'differential', 'child.js');
const OTHER = process.env.UDPX_DIFF_IMPL || 'udpx';
const CONCURRENCY = Number(process.env.UDPX_DIFF_CONCURRENCY) || 4;
const ONLY = process.env.UDPX_DIFF_ONLY; // a regular expression on scenario names

// At most CONCURRENCY children at a time.
const limited = limiter(CONCURRENCY);

interface Outcome {
  result?: ChildResult;
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  killedByParent: boolean;
}

function runChild(impl: string, sc: Scenario): Promise<Outcome> {
  return limited(
    () =>
      new Promise<Outcome>((resolve) => {
        const child = spawn(...nodeCommand([...(sc.nodeFlags ?? []), CHILD, impl, sc.name]), {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, NODE_OPTIONS: '' },
        });
        let stdout = '';
        let stderr = '';
        let killedByParent = false;
        child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
        child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
        // Backstop only: the child records a hang itself (unref'd timer) and exits.
        const backstop = setTimeout(
          () => {
            killedByParent = true;
            child.kill('SIGKILL');
          },
          (sc.expectHang ? HANG_MS : DEFAULT_MS) + 5000,
        );
        child.on('close', (code, signal) => {
          clearTimeout(backstop);
          const line = stdout.split('\n').find((l) => l.startsWith(TRACE_MARK));
          let result: ChildResult | undefined;
          if (line) result = JSON.parse(line.slice(TRACE_MARK.length)) as ChildResult;
          resolve({ result, stdout, stderr, code, signal, killedByParent });
        });
      }),
  );
}

/** What is compared: the trace and the process outcome. */
function comparable(o: Outcome): unknown {
  if (!o.result) {
    return { noTrace: true, exitedByItself: false, killedByParent: o.killedByParent, code: o.code, signal: o.signal };
  }
  return { trace: o.result.trace, exitedByItself: o.result.exitedByItself, exitCode: o.result.exitCode };
}

function describe(o: Outcome): string {
  return o.result ? '' : `no trace (code ${o.code}, signal ${o.signal}); stderr:\n${o.stderr.slice(0, 4000)}`;
}

const hasEntry = (r: ChildResult | undefined, label: string): boolean =>
  !!r && r.trace.entries.some((e) => Array.isArray(e) && e[0] === label);

for (const sc of scenarios) {
  if (ONLY && !new RegExp(ONLY).test(sc.name)) continue;

  if (sc.onlyUdpx) {
    const t = OTHER === 'udpx' ? test : test.skip;
    t(`udpx-only: ${sc.name}`, async (t) => {
      const u = await runChild('udpx', sc);
      if (!u.result) t.log(describe(u));
      t.truthy(u.result, 'the udpx child printed a trace');
      t.deepEqual(comparable(u), { trace: sc.expected, exitedByItself: true, exitCode: 0 });
    });
    continue;
  }

  if (sc.divergence && OTHER === 'udpx') {
    const div = sc.divergence;
    test(`divergence: ${sc.name} (node:dgram dies, udpx survives)`, async (t) => {
      const [n, u] = await Promise.all([runChild('node', sc), runChild('udpx', sc)]);
      if (!u.result) t.log(`udpx: ${describe(u)}`);
      t.true(hasEntry(n.result, 'uncaught'), 'node:dgram threw from inside its queue');
      t.is(n.result?.exitCode, 1, 'node:dgram died of it');
      t.true(u.result?.exitedByItself, 'udpx exited by itself');
      t.is(u.result?.exitCode, 0, 'udpx exited with code 0');
      t.is(div.check(u.result?.trace.entries ?? []), null, JSON.stringify(u.result?.trace.entries));
    });
    continue;
  }

  test(sc.name, async (t) => {
    const [n, u] = await Promise.all([runChild('node', sc), runChild(OTHER, sc)]);
    if (!n.result) t.log(`node: ${describe(n)}`);
    if (!u.result) t.log(`${OTHER}: ${describe(u)}`);
    // The scenario itself must be sound on node:dgram.
    t.truthy(n.result, 'the node:dgram child printed a trace');
    t.true((n.result?.trace.entries.length ?? 0) > 1, 'the trace is not trivial');
    t.true(hasEntry(n.result, 'done'), 'the scenario reached done() on node:dgram');
    t.is(n.result?.exitedByItself, !sc.expectHang, 'process lifetime on node:dgram is what the scenario expects');
    t.deepEqual(comparable(u), comparable(n), `${OTHER} trace differs from node:dgram`);
  });
}
