// The published types: udpx sockets fit wherever a dgram.Socket is typed, and the
// extensions are typed without casts. This file failing to compile fails the build.

import test from 'ava';
import type * as dgram from 'node:dgram';
import * as udpx from '../index';
import { closeAll, once } from './helpers';

function takesDgramSocket(s: dgram.Socket): string {
  return s.constructor.name;
}

test('a udpx socket is a dgram.Socket to TypeScript and an instance of udpx.Socket at run time', async (t) => {
  const rx = udpx.createSocket({ type: 'udp4', gro: true, recvMetadata: true });
  t.true(rx instanceof udpx.Socket);
  t.true(rx instanceof (await import('node:dgram')).Socket, 'also an instance of node:dgram\'s Socket');
  t.is(takesDgramSocket(rx), 'Socket');
  rx.bind(0, '127.0.0.1');
  await once(rx, 'listening');
  const tx = udpx.createSocket('udp4');
  const sent = await new Promise<number>((resolve, reject) =>
    tx.sendBatch(['a', 'b'], rx.address().port, '127.0.0.1', (err, n) => (err ? reject(err) : resolve(n))));
  t.is(sent, 2);
  const seen: string[] = [];
  for await (const { data, rinfo } of rx) {
    seen.push(`${data}:${rinfo.interface}`);
    if (seen.length === 2) break;
  }
  t.deepEqual(seen, ['a:lo', 'b:lo']);
  t.is(tx.stats().datagramsSent, 2);
  await closeAll(rx, tx);
});
