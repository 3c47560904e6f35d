// udpx's socket-option extensions: TOS/DSCP, don't-fragment and device binding.
// Don't-fragment is checked across a 1280-byte-MTU link between two network namespaces
// that the test builds (root and iproute2 needed; a permission failure is reported as such).

import test from 'ava';
import * as path from 'node:path';
import { refusedByEmulator, testUnless } from './capabilities';
import { bound, closeAll, once, udpx } from './helpers';
import { deleteNamespaces, linkNamespaces, namespacesUnavailable, nodeIn } from './netns';

const UDPX = path.join(__dirname, '..', 'index.js');
const A = `udpxoA${process.pid}`;
const B = `udpxoB${process.pid}`;

test('setTOS: returns the value; rejects non-numbers and out-of-range values; EBADF before bind', async (t) => {
  const fresh: any = udpx.createSocket('udp4');
  t.throws(() => fresh.setTOS(0xb8), { code: 'EBADF', message: 'setTOS EBADF' });
  fresh.close();
  for (const type of ['udp4', 'udp6'] as const) {
    const s: any = await bound(type);
    t.is(s.setTOS(0xb8), 0xb8);
    t.throws(() => s.setTOS(256), { code: 'EINVAL' });
    t.throws(() => s.setTOS(-1), { code: 'EINVAL' });
    t.throws(() => s.setTOS('8'), { code: 'ERR_INVALID_ARG_TYPE' });
    await closeAll(s);
  }
});

testUnless(refusedByEmulator('bindToDevice'), 'bindToDevice: lo keeps loopback traffic flowing; an unknown device is ENODEV', async (t) => {
  const rx = await bound();
  const tx: any = await bound();
  tx.bindToDevice('lo');
  tx.send('via lo', rx.address().port, '127.0.0.1');
  const [msg] = await once<[Buffer]>(rx, 'message');
  t.is(msg.toString(), 'via lo');
  t.throws(() => tx.bindToDevice('nosuchdev0'), { code: 'ENODEV', message: 'bindToDevice ENODEV' });
  t.throws(() => tx.bindToDevice(5), { code: 'ERR_INVALID_ARG_TYPE' });
  tx.bindToDevice(null);
  await closeAll(rx, tx);
});

testUnless(refusedByEmulator('recvMetadata'), 'recvMetadata: rinfo gains destination, interface, tos, timestamp, truncated; only when asked', async (t) => {
  const plain = await bound();
  const rx: any = udpx.createSocket({ type: 'udp4', recvMetadata: true, reuseAddr: true } as any);
  rx.bind(0);
  await once(rx, 'listening');
  rx.addMembership('239.255.0.99', '127.0.0.1');
  const tx: any = await bound();
  tx.setTOS(0xb8);
  tx.setMulticastInterface('127.0.0.1');
  const before = Date.now();
  tx.send('to group', rx.address().port, '239.255.0.99');
  const [msg, rinfo] = await once<[Buffer, any]>(rx, 'message');
  t.is(msg.toString(), 'to group');
  t.is(rinfo.destination, '239.255.0.99');
  t.is(rinfo.interface, 'lo');
  t.is(rinfo.tos, 0xb8);
  t.false(rinfo.truncated);
  t.true(rinfo.timestamp >= before - 1000 && rinfo.timestamp <= Date.now() + 1000);

  // Batches carry the same, per datagram.
  const got = new Promise<any>((resolve) => rx.receiveBatches((b: any) => resolve(b.rinfo(0))));
  tx.send('unicast', rx.address().port, '127.0.0.1');
  const r2 = await got;
  t.is(r2.destination, '127.0.0.1');
  t.is(r2.tos, 0xb8);

  // Without the option, rinfo is exactly node:dgram's.
  tx.send('plain', plain.address().port, '127.0.0.1');
  const [, r3] = await once<[Buffer, any]>(plain, 'message');
  t.deepEqual(Object.keys(r3), ['address', 'family', 'port', 'size']);
  await closeAll(plain, rx, tx);
});

/** In namespace A: send 1400 bytes to B with don't-fragment `df`; report the callback's error code. */
function sendBig(df: boolean): Promise<string> {
  return nodeIn(A, `
    const s = require(${JSON.stringify(UDPX)}).createSocket('udp4');
    s.bind(0, '10.80.0.1', () => {
      s.setDontFragment(${df});
      s.send(Buffer.alloc(1400), 9, '10.80.0.2', (err) => { console.log(err ? err.code : 'sent'); s.close(); });
    });`);
}

const failure = linkNamespaces({ ns: A, dev: 'oa0', cidr: '10.80.0.1/24' }, { ns: B, dev: 'ob0', cidr: '10.80.0.2/24' }, 1280);
test.after.always(() => deleteNamespaces(A, B));

if (!namespacesUnavailable(failure, "don't-fragment spec")) {
  test('sendBatch to one peer over a 1280-byte MTU: segments too big for GSO go the plain way', async (t) => {
    const script = `
      const s = require(${JSON.stringify(UDPX)}).createSocket('udp4');
      s.bind(0, '10.80.0.1', () => {
        s.sendBatch(Array.from({ length: 10 }, () => Buffer.alloc(1400)), 9, '10.80.0.2', (err, n) => {
          console.log(err ? err.code : 'sent ' + n); s.close();
        });
      });`;
    const out = await nodeIn(A, script);
    t.is(out, 'sent 10');
  });

  test('setDontFragment: over a 1280-byte MTU, 1400 bytes fail EMSGSIZE with DF and go out fragmented without', async (t) => {
    t.is(await sendBig(true), 'EMSGSIZE');
    t.is(await sendBig(false), 'sent');
  });
}
