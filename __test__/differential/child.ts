// Child process of the differential suite:
//   node dist/__test__/differential/child.js <node|node2|udpx> <scenarioName>
// `node` and `node2` both load node:dgram (node2 exists to check that scenarios
// are deterministic before udpx is built); `udpx` loads the compiled facade.
// Prints one line `@@TRACE@@{json}` on stdout when the process exits.

import * as fs from 'fs';
import * as path from 'path';
import { Recorder, scenarios } from './scenarios';

export const TRACE_MARK = '@@TRACE@@';

/** How long the child waits for the process to exit by itself before it records a hang. */
export const HANG_MS = 1000;
export const DEFAULT_MS = 3000;

export interface ChildResult {
  impl: string;
  scenario: string;
  trace: { entries: unknown[]; lanes: Record<string, unknown[]> };
  exitedByItself: boolean;
  exitCode: number | null;
}

function main(): void {
  const [impl, name] = process.argv.slice(2);
  const scenario = scenarios.find((s) => s.name === name);
  if (!scenario) {
    process.stderr.write(`unknown scenario ${name}\n`);
    process.exit(64);
  }
  let dgram: unknown;
  if (impl === 'node' || impl === 'node2') {
    dgram = require('node:dgram');
  } else if (impl === 'udpx') {
    dgram = require(path.resolve(__dirname, '../../index.js'));
  } else {
    process.stderr.write(`unknown impl ${impl}\n`);
    process.exit(64);
  }

  const rec = new Recorder();
  let timedOut = false;

  process.on('uncaughtExceptionMonitor', (err, origin) => {
    rec.log('uncaught', origin, err);
  });

  process.on('exit', (code) => {
    const result: ChildResult = {
      impl,
      scenario: name,
      trace: rec.finalize(),
      exitedByItself: !timedOut,
      exitCode: timedOut ? null : code,
    };
    fs.writeSync(1, `\n${TRACE_MARK}${JSON.stringify(result)}\n`);
  });

  // An unref'd timer does not keep the process alive: if it fires, the process
  // did not exit by itself (a ref'd handle is still open).
  setTimeout(() => {
    timedOut = true;
    process.exit(0);
  }, scenario.expectHang ? HANG_MS : DEFAULT_MS).unref();

  let doneCalls = 0;
  const done = (): void => {
    doneCalls++;
    rec.log(doneCalls === 1 ? 'done' : 'done-again');
  };

  try {
    const ret = scenario.run(dgram, rec, done);
    if (ret && typeof (ret as Promise<void>).then === 'function') {
      (ret as Promise<void>).then(
        () => undefined,
        (err) => rec.log('scenario-rejected', err),
      );
    }
  } catch (err) {
    rec.log('scenario-threw', err);
  }
  rec.log('sync-end');
  process.nextTick(() => rec.log('tick'));
}

if (require.main === module) main();
