// The leak part of .ci/asan: one process that drives every native path many times (sockets
// opened and closed, per-call and batched sends to one and many peers, GSO, 'message' and
// batched receive with GRO and metadata, ICMP errors on, workers terminated with sockets
// bound), then exits with nothing left open, under LeakSanitizer. Anything the addon
// allocated and lost shows in the report with a frame in udpx.asan.node.
'use strict';
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const udpx = require(path.join(__dirname, '..', 'dist', 'index.js'));

const ROUNDS = 40;
const deadline = setTimeout(() => { console.error('asan-leaks: not done in 60 s'); process.exit(1); }, 60000);

function round(type, host) {
  return new Promise((resolve, reject) => {
    const rx = udpx.createSocket({ type, gro: true, recvMetadata: true, recvErrors: true });
    const tx = udpx.createSocket(type);
    let got = 0;
    const want = 1 + 8 + 8 + 4;
    const done = () => { rx.close(); tx.close(); resolve(); };
    rx.on('message', () => { if (++got === want) done(); });
    rx.receiveBatches(() => {});
    rx.on('error', reject);
    rx.bind(0, host, () => {
      const port = rx.address().port;
      tx.send('one', port, host);
      tx.sendBatch(Array.from({ length: 8 }, (_, i) => Buffer.alloc(100 + i)), port, host);
      tx.sendBatch(Array.from({ length: 8 }, () => Buffer.alloc(1200)), port, host);
      tx.sendBatch(Array.from({ length: 4 }, (_, i) => ({ data: Buffer.from(`m${i}`), port, address: host })));
      // An ICMP port unreachable for the error queue.
      rx.send('x', 9, host);
    });
  });
}

function worker() {
  const w = new Worker(`
    const udpx = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
    const s = udpx.createSocket('udp4');
    s.on('message', () => {});
    s.bind(0, '127.0.0.1', () => require('node:worker_threads').parentPort.postMessage(s.address().port));
  `, { eval: true });
  return new Promise((resolve) => w.once('message', () => w.terminate().then(resolve)));
}

(async () => {
  for (let i = 0; i < ROUNDS; i++) {
    await round('udp4', '127.0.0.1');
    await round('udp6', '::1');
  }
  for (let i = 0; i < 5; i++) await worker();
  clearTimeout(deadline);
  console.log(`asan-leaks: ${ROUNDS * 2} rounds of sockets and ${5} workers done`);
})().catch((e) => { console.error(e); process.exit(1); });
