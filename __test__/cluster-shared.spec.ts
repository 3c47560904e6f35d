// Cluster workers on the primary's shared socket, as node:dgram runs them: bind flags
// reach the primary in libuv's values, a worker's disconnect() closes its sockets, and a
// worker that stops reading leaves the remaining datagrams to the others.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const UDPX = path.resolve(__dirname, '..', 'index.js');

/** Runs `source` as a cluster program with `impl` as dgram; its stdout lines. */
function runCluster(source: string, impl: 'node' | 'udpx'): string[] {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udpx-cs-')), 'main.js');
  fs.writeFileSync(file, source);
  try {
    const r = spawnSync(process.execPath, [file], {
      env: { ...process.env, DGRAM: impl === 'node' ? 'node:dgram' : UDPX },
      encoding: 'utf8',
      timeout: 15000,
      killSignal: 'SIGKILL',
    });
    return [...r.stdout.trim().split('\n').filter(Boolean), `status ${r.status} ${r.signal}`];
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

test('reuseAddr in a worker: both sockets bind through the primary; disconnect() ends the worker', (t) => {
  const source = `
    const cluster = require('node:cluster');
    const dgram = require(process.env.DGRAM);
    if (cluster.isPrimary) {
      cluster.fork().on('exit', (code) => console.log('worker exit ' + code));
    } else {
      const a = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      const b = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      a.on('error', (e) => console.log('a ' + e.code));
      b.on('error', (e) => console.log('b ' + e.code));
      a.bind(0, () => b.bind(a.address().port, () => {
        console.log('same port ' + (a.address().port === b.address().port));
        a.on('close', () => console.log('a closed'));
        b.on('close', () => console.log('b closed'));
        cluster.worker.disconnect();
      }));
    }`;
  const node = runCluster(source, 'node');
  t.deepEqual(node, ['same port true', 'a closed', 'b closed', 'worker exit 0', 'status 0 null']);
  t.deepEqual(runCluster(source, 'udpx'), node);
});

test('workers share the queue: one that closes after 5 datagrams leaves the rest to the other', (t) => {
  const source = `
    const cluster = require('node:cluster');
    const dgram = require(process.env.DGRAM);
    if (cluster.isPrimary) {
      let listening = 0;
      const counts = [];
      for (let i = 0; i < 2; i++) {
        const w = cluster.fork();
        w.on('message', (m) => { counts.push(m); if (counts.length === 2) console.log('total ' + (counts[0] + counts[1])); });
      }
      cluster.on('listening', (w, address) => {
        if (++listening < 2) return;
        const s = require('node:dgram').createSocket('udp4');
        let sent = 0;
        const next = () => { if (sent++ < 10) s.send('x', address.port, '127.0.0.1', next); else s.close(); };
        next();
      });
    } else {
      const s = dgram.createSocket('udp4');
      let n = 0;
      s.on('message', () => { if (++n === 5) { s.close(); process.send(n); cluster.worker.disconnect(); } });
      s.bind({ port: 0, address: '127.0.0.1', exclusive: false });
    }`;
  const node = runCluster(source, 'node');
  t.deepEqual(node, ['total 10', 'status 0 null']);
  t.deepEqual(runCluster(source, 'udpx'), node);
});
