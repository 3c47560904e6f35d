// Edge cases of the batch extensions: several iterators on one socket, a paused iterator
// and process lifetime, sendBatch racing close(), and adopting a descriptor Node watches.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import { bound, closeAll, nodeCommand, once, udpx } from './helpers';

const UDPX = path.resolve(__dirname, '..', 'index.js');

test('two iterators each get every datagram; returning one leaves the other whole', async (t) => {
  const rx: any = await bound();
  const a = rx.messages({ highWaterMark: 4 });
  const b = rx.messages();
  const tx = await bound();
  for (let i = 0; i < 5; i++) tx.send(`m${i}`, rx.address().port, '127.0.0.1');
  const first = await a.next();
  t.is(first.value.data.toString(), 'm0');
  await a.return();
  const got: string[] = [];
  for await (const { data } of b) {
    got.push(data.toString());
    if (got.length === 5) break;
  }
  t.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
  await closeAll(rx, tx);
  t.throws(() => rx.messages(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
});

function exitsWithin(script: string, ms: number): boolean {
  const r = spawnSync(...nodeCommand(['-e', script]), { timeout: ms, killSignal: 'SIGKILL' });
  return r.signal === null && r.status === 0;
}

test('a paused iterator keeps a ref\'d bound socket alive, and an unref\'d one does not', (t) => {
  const script = (unref: boolean) => `
    const s = require(${JSON.stringify(UDPX)}).createSocket('udp4');
    s.messages({ highWaterMark: 1 });
    s.bind(0, '127.0.0.1', () => {
      ${unref ? 's.unref();' : ''}
      const tx = require('node:dgram').createSocket('udp4');
      for (let i = 0; i < 5; i++) tx.send('x', s.address().port, '127.0.0.1');
      tx.unref();
    });`;
  t.false(exitsWithin(script(false), 1500), 'the ref\'d socket holds the process');
  t.true(exitsWithin(script(true), 5000), 'the unref\'d socket lets it exit');
});

test('sendBatch racing close() calls back once with ERR_SOCKET_DGRAM_NOT_RUNNING', async (t) => {
  const rx = await bound();
  const tx: any = await bound();
  const err = await new Promise<any>((resolve) => {
    tx.sendBatch(['a', 'b'], rx.address().port, '127.0.0.1', (e: any, n: number) => resolve([e, n]));
    tx.close();
  });
  t.is(err[0].code, 'ERR_SOCKET_DGRAM_NOT_RUNNING');
  t.is(err[1], 0);
  await closeAll(rx);
});

test('bind({ fd }) refuses a descriptor a node:dgram socket watches, and leaves it open', async (t) => {
  const owner: any = dgram.createSocket('udp4');
  owner.bind(0, '127.0.0.1');
  await once(owner, 'listening');
  const kState = Object.getOwnPropertySymbols(owner).find((s) => s.description === 'state symbol')!;
  const fd = owner[kState].handle.fd;
  t.true(fd > 0);
  const s = udpx.createSocket('udp4');
  t.throws(() => s.bind({ fd }), { code: 'EEXIST', message: 'open EEXIST' });
  // The owner still works: a datagram reaches it.
  const tx = await bound();
  tx.send('still mine', owner.address().port, '127.0.0.1');
  const [msg] = await once<[Buffer]>(owner, 'message');
  t.is(msg.toString(), 'still mine');
  await closeAll(owner, tx, s);
});
