// send() calls of one tick leave together: equal-size datagrams to one destination go out
// as UDP GSO sends, which the kernel counts once each (Udp OutDatagrams), where node:dgram
// makes one kernel send per datagram. Counted in a network namespace the test builds, so
// that no other process's sends are in the counters. (That the datagrams, callbacks and
// errors are node:dgram's own is the differential suite's `coalesced-*` scenarios.)
//
// Needs root and iproute2; where namespaces cannot be made for lack of permission, one test
// says so and asserts that it is a permission error.

import test from 'ava';
import * as path from 'node:path';
import { backend } from './capabilities';
import { deleteNamespaces, linkNamespaces, namespacesUnavailable, nodeIn, udpCounters } from './netns';

const UDPX = path.join(__dirname, '..', 'index.js');
const A = `udpxcA${process.pid}`;
const B = `udpxcB${process.pid}`;
const N = 64;

const outDatagrams = (ns: string): number => udpCounters(ns).OutDatagrams;

// N sends of 64 bytes in one tick, each with a callback; prints the callbacks' results.
const script = (impl: string) => `
const d = ${impl === 'node' ? "require('node:dgram')" : `require(${JSON.stringify(UDPX)})`};
const s = d.createSocket('udp4');
s.bind(0, '10.83.0.1', () => {
  const results = [];
  for (let i = 0; i < ${N}; i++) {
    s.send(Buffer.alloc(64, i), 9999, '10.83.0.2', (err, n) => {
      results.push(err ? err.code : n);
      if (results.length === ${N}) s.close(() => console.log(JSON.stringify(results)));
    });
  }
});
`;

const failure = linkNamespaces({ ns: A, dev: 'ca0', cidr: '10.83.0.1/24' }, { ns: B, dev: 'cb0', cidr: '10.83.0.2/24' });
test.after.always(() => deleteNamespaces(A, B));

if (!namespacesUnavailable(failure, 'send-coalescing spec')) {
  test('equal datagrams of one tick: one kernel send each on node:dgram, a few GSO sends on udpx', async (t) => {
    const counted: Record<string, number> = {};
    for (const impl of ['node', 'udpx']) {
      const before = outDatagrams(A);
      const results = JSON.parse(await nodeIn(A, script(impl)));
      counted[impl] = outDatagrams(A) - before;
      t.deepEqual(results, Array(N).fill(64), `${impl}: every send called back with its 64 bytes`);
    }
    t.log(`kernel sends for ${N} datagrams: node:dgram ${counted.node}, udpx ${counted.udpx}`);
    t.is(counted.node, N);
    if (backend === 'portable') {
      // The portable backend (macOS's loop, `.ci/portable`) has neither GSO nor sendmmsg: a
      // coalesced run still leaves one datagram per kernel call.
      t.log('portable backend: no GSO, so one kernel send per datagram, as node:dgram');
      t.is(counted.udpx, N);
      return;
    }
    // The first send of the tick goes at once, the other 63 in one GSO send (UDP GSO needs
    // Linux 4.18; without it they would go by sendmmsg, each counted).
    t.true(counted.udpx >= 2 && counted.udpx <= 4, `udpx: ${counted.udpx} kernel sends`);
  });
}
