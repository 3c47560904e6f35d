// ICMP errors, opt-in (`recvErrors: true`): across a router namespace the test builds,
// datagrams that meet an unreachable port, a removed route, a TTL that runs out at the
// router and a 1280-byte link with don't-fragment each come back as one 'icmpError' event
// with the original destination, the offender, and the MTU where there is one; counted in
// stats().icmpErrors. Without the option udpx does what node:dgram does: nothing at all
// (no 'error', no callback error). With it and no listener, nothing crashes.
//
//   nsA ia0 10.83.1.1 ── ir0 10.83.1.254  nsR  ir1 10.83.2.254 ── ib0 10.83.2.2 nsB
//           fd83:1::1         fd83:1::fe        fd83:2::fe         fd83:2::2
//                                        (forwarding)   MTU 1280 on the R–B link
//
// Over IPv6 (ICMPv6, IPV6_RECVERR): port unreachable at nsB, and packet too big at the
// router (IPv6 routers never fragment: a 1400-byte datagram meets the 1280-byte link).
//
// Needs root and iproute2; where namespaces cannot be made for lack of permission, one
// test says so.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { deleteNamespaces, namespacesUnavailable, nodeIn } from './netns';

const UDPX = path.join(__dirname, '..', 'index.js');
const A = `udpxiA${process.pid}`;
const R = `udpxiR${process.pid}`;
const B = `udpxiB${process.pid}`;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const sysctl = (ns: string, kv: string) => ip('netns', 'exec', ns, 'sysctl', '-q', '-w', kv);

function setup(): string | null {
  try {
    ip('netns', 'add', A);
  } catch (e: any) {
    return String(e.stderr ?? e.message);
  }
  ip('netns', 'add', R);
  ip('netns', 'add', B);
  ip('link', 'add', 'ia0', 'netns', A, 'type', 'veth', 'peer', 'name', 'ir0', 'netns', R);
  ip('link', 'add', 'ir1', 'netns', R, 'type', 'veth', 'peer', 'name', 'ib0', 'netns', B);
  const addr = (ns: string, dev: string, cidr: string, cidr6: string, mtu = '1500') => {
    ip('-n', ns, 'addr', 'add', cidr, 'dev', dev);
    // nodad: usable at once, no duplicate address detection to wait for.
    ip('-n', ns, 'addr', 'add', cidr6, 'dev', dev, 'nodad');
    ip('-n', ns, 'link', 'set', dev, 'mtu', mtu, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  };
  addr(A, 'ia0', '10.83.1.1/24', 'fd83:1::1/64');
  addr(R, 'ir0', '10.83.1.254/24', 'fd83:1::fe/64');
  addr(R, 'ir1', '10.83.2.254/24', 'fd83:2::fe/64', '1280');
  addr(B, 'ib0', '10.83.2.2/24', 'fd83:2::2/64', '1280');
  ip('-n', A, 'route', 'add', 'default', 'via', '10.83.1.254');
  ip('-n', B, 'route', 'add', 'default', 'via', '10.83.2.254');
  ip('-n', A, '-6', 'route', 'add', 'default', 'via', 'fd83:1::fe');
  ip('-n', B, '-6', 'route', 'add', 'default', 'via', 'fd83:2::fe');
  sysctl(R, 'net.ipv4.ip_forward=1');
  sysctl(R, 'net.ipv6.conf.all.forwarding=1');
  // ICMP errors are rate-limited per destination (1 s): this test sends several in a row.
  for (const ns of [R, B]) {
    sysctl(ns, 'net.ipv4.icmp_ratelimit=0');
    sysctl(ns, 'net.ipv6.icmp.ratelimit=0');
  }
  // A route that is removed: 10.83.9.0/24 was reachable behind nsB, then R loses the route.
  ip('-n', R, 'route', 'add', '10.83.9.0/24', 'via', '10.83.2.2');
  ip('-n', R, 'route', 'del', '10.83.9.0/24');
  return null;
}

/** What a socket in nsA sends, per family: one datagram per fault (`s`, `cb` in scope). */
const FAULTS = {
  udp4: {
    bind: '10.83.1.1',
    faults: (udpxOptions: boolean) => `[
      ['port unreachable', () => s.send('x', 9, '10.83.2.2', cb)],
      ['route removed', () => s.send('x', 9, '10.83.9.9', cb)],
      ['ttl exceeded', () => { s.setTTL(1); s.send('x', 9, '10.83.2.2', cb); }],
      ['fragmentation needed', () => { s.setTTL(64); ${udpxOptions ? 's.setDontFragment(true); ' : ''}s.send(Buffer.alloc(1400), 9, '10.83.2.2', cb); }],
    ]`,
  },
  // IPv6 routers never fragment: the 1400-byte datagram meets the 1280-byte link and the
  // router answers "packet too big", with or without don't-fragment.
  udp6: {
    bind: 'fd83:1::1',
    faults: () => `[
      ['port unreachable', () => s.send('x', 9, 'fd83:2::2', cb)],
      ['packet too big', () => s.send(Buffer.alloc(1400), 9, 'fd83:2::2', cb)],
    ]`,
  },
};

/**
 * In nsA: one socket (`variant`: node:dgram; udpx as is; udpx with recvErrors and a
 * listener; udpx with recvErrors and no listener at all) sends one datagram per fault,
 * 300 ms apart, then reports what it saw. node:dgram cannot set don't-fragment, so the plain
 * variants send the big IPv4 datagram without it (the router then fragments it).
 */
const script = (variant: 'node' | 'udpx' | 'udpx-recv' | 'udpx-silent', type: 'udp4' | 'udp6' = 'udp4') => `
const d = ${variant === 'node' ? "require('node:dgram')" : `require(${JSON.stringify(UDPX)})`};
const s = d.createSocket({ type: '${type}'${variant === 'udpx-recv' || variant === 'udpx-silent' ? ', recvErrors: true' : ''} });
const out = { icmp: [], errors: [], sendErrors: [] };
${variant === 'udpx-silent' ? '' : `s.on('error', (e) => out.errors.push(e.code));
s.on('icmpError', (e) => out.icmp.push(e));`}
const faults = ${FAULTS[type].faults(variant.startsWith('udpx-'))};
function cb(err) { if (err) out.sendErrors.push(err.code); }
s.bind(0, '${FAULTS[type].bind}', () => {
  let i = 0;
  const next = () => {
    if (i === faults.length) {
      // With recvErrors, until all are in (a loaded machine may be slow), at most 3 s.
      const t0 = Date.now();
      const wait = setInterval(() => {
        const n = typeof s.stats === 'function' ? s.stats().icmpErrors : 0;
        if (${variant.startsWith('udpx-') ? 'n < faults.length && ' : ''}Date.now() - t0 < ${variant.startsWith('udpx-') ? 3000 : 0}) return;
        clearInterval(wait);
        out.stats = typeof s.stats === 'function' ? n : undefined;
        s.close(() => console.log(JSON.stringify(out)));
      }, 50);
      return;
    }
    faults[i++][1]();
    setTimeout(next, 300);
  };
  next();
});
`;

/** Runs `variant` in nsA, after forgetting the path MTU an earlier run learnt. */
function runIn(variant: Parameters<typeof script>[0], type: 'udp4' | 'udp6' = 'udp4'): Promise<any> {
  ip('-n', A, 'route', 'flush', 'cache');
  ip('-n', A, '-6', 'route', 'flush', 'cache');
  return nodeIn(A, script(variant, type)).then((out) => JSON.parse(out));
}

const failure = setup();
test.after.always(() => deleteNamespaces(A, R, B));

if (!namespacesUnavailable(failure, 'icmp-errors specs')) {
  test.serial('recvErrors: port unreachable, removed route, TTL exceeded and fragmentation needed, each an icmpError event', async (t) => {
    const r = await runIn('udpx-recv');
    t.deepEqual(r.errors, [], "no 'error' event");
    t.deepEqual(r.sendErrors, [], 'no send failed');
    const base = { origin: 'icmp', port: 9 };
    t.deepEqual(r.icmp, [
      { ...base, code: 'ECONNREFUSED', errno: -111, icmpType: 3, icmpCode: 3, address: '10.83.2.2', offender: '10.83.2.2' },
      { ...base, code: 'ENETUNREACH', errno: -101, icmpType: 3, icmpCode: 0, address: '10.83.9.9', offender: '10.83.1.254' },
      { ...base, code: 'EHOSTUNREACH', errno: -113, icmpType: 11, icmpCode: 0, address: '10.83.2.2', offender: '10.83.1.254' },
      { ...base, code: 'EMSGSIZE', errno: -90, icmpType: 3, icmpCode: 4, mtu: 1280, address: '10.83.2.2', offender: '10.83.1.254' },
    ]);
    t.is(r.stats, 4, 'stats().icmpErrors counts them');
  });

  test.serial('off by default: udpx reports the same faults exactly as node:dgram (not at all)', async (t) => {
    const node = await runIn('node');
    const udpx = await runIn('udpx');
    t.deepEqual(node, { icmp: [], errors: [], sendErrors: [] });
    t.deepEqual(udpx, { icmp: [], errors: [], sendErrors: [], stats: 0 });
  });

  test.serial('recvErrors over IPv6: port unreachable and packet too big (MTU 1280), each an icmpError event', async (t) => {
    const r = await runIn('udpx-recv', 'udp6');
    t.deepEqual(r.errors, [], "no 'error' event");
    t.deepEqual(r.sendErrors, [], 'no send failed');
    const base = { origin: 'icmp6', port: 9, address: 'fd83:2::2' };
    t.deepEqual(r.icmp, [
      { ...base, code: 'ECONNREFUSED', errno: -111, icmpType: 1, icmpCode: 4, offender: 'fd83:2::2' },
      { ...base, code: 'EMSGSIZE', errno: -90, icmpType: 2, icmpCode: 0, mtu: 1280, offender: 'fd83:1::fe' },
    ]);
    t.is(r.stats, 2, 'stats().icmpErrors counts them');
  });

  test.serial('off by default over IPv6: udpx reports the same faults exactly as node:dgram (not at all)', async (t) => {
    const node = await runIn('node', 'udp6');
    const udpx = await runIn('udpx', 'udp6');
    t.deepEqual(node, { icmp: [], errors: [], sendErrors: [] });
    t.deepEqual(udpx, { icmp: [], errors: [], sendErrors: [], stats: 0 });
  });

  test.serial('recvErrors with no listener at all: the errors are read and counted, nothing is thrown', async (t) => {
    const r = await runIn('udpx-silent');
    t.deepEqual(r, { icmp: [], errors: [], sendErrors: [], stats: 4 });
  });
}
