#!/usr/bin/env python3
"""Writes the seed corpora in seeds/<target>/: control buffers as Linux writes them on a
64-bit machine (cmsghdr = size_t len, int level, int type; 8-byte alignment), sockaddrs,
GRO slots and gathered payloads. Run from this folder; the output is committed."""
import os, struct

SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, SOL_UDP = 1, 0, 41, 17
UDP_GRO, SO_RXQ_OVFL, SO_TIMESTAMPNS = 104, 40, 35
IP_PKTINFO, IP_TOS, IP_TTL = 8, 1, 2
IPV6_PKTINFO, IPV6_TCLASS, IPV6_HOPLIMIT = 50, 67, 52


def align(n):
    return (n + 7) & ~7


def cmsg(level, ty, data):
    hdr = struct.pack('<QiI', 16 + len(data), level, ty)
    return hdr + data + b'\0' * (align(len(data)) - len(data))


def write(target, name, data):
    os.makedirs(f'seeds/{target}', exist_ok=True)
    with open(f'seeds/{target}/{name}', 'wb') as f:
        f.write(data)


msgs = {
    'gro': cmsg(SOL_UDP, UDP_GRO, struct.pack('<i', 1200)),
    'gro-zero': cmsg(SOL_UDP, UDP_GRO, struct.pack('<i', 0)),
    'gro-negative': cmsg(SOL_UDP, UDP_GRO, struct.pack('<i', -1)),
    'rxq-ovfl': cmsg(SOL_SOCKET, SO_RXQ_OVFL, struct.pack('<I', 17)),
    'timestampns': cmsg(SOL_SOCKET, SO_TIMESTAMPNS, struct.pack('<qq', 1764660000, 123456789)),
    'timestamp-bad-nanos': cmsg(SOL_SOCKET, SO_TIMESTAMPNS, struct.pack('<qq', 1, 2_000_000_000)),
    'pktinfo4': cmsg(IPPROTO_IP, IP_PKTINFO, struct.pack('<i4s4s', 1, bytes([127, 0, 0, 1]), bytes([239, 1, 2, 3]))),
    'pktinfo6': cmsg(IPPROTO_IPV6, IPV6_PKTINFO, bytes(15) + b'\1' + struct.pack('<I', 1)),
    'tos': cmsg(IPPROTO_IP, IP_TOS, b'\xb8'),
    'tclass': cmsg(IPPROTO_IPV6, IPV6_TCLASS, struct.pack('<i', 0xb8)),
    'ttl': cmsg(IPPROTO_IP, IP_TTL, struct.pack('<i', 64)),
    'hoplimit': cmsg(IPPROTO_IPV6, IPV6_HOPLIMIT, struct.pack('<i', 255)),
    'hoplimit-out-of-range': cmsg(IPPROTO_IPV6, IPV6_HOPLIMIT, struct.pack('<i', 256)),
}
for name, m in msgs.items():
    write('cmsg_parse', name, m)
all_of_them = b''.join(msgs.values())
write('cmsg_parse', 'all', all_of_them)
write('cmsg_parse', 'truncated-data', all_of_them[:-3])
write('cmsg_parse', 'truncated-header', msgs['gro'][:10])
write('cmsg_parse', 'len-too-small', struct.pack('<QiI', 3, SOL_UDP, UDP_GRO) + bytes(8))
write('cmsg_parse', 'len-past-end', struct.pack('<QiI', 4096, SOL_UDP, UDP_GRO) + bytes(8))
write('cmsg_parse', 'len-huge', struct.pack('<QiI', 2**64 - 1, SOL_UDP, UDP_GRO) + bytes(8))

for name, (level, ty, data) in {
    'gro': (SOL_UDP, UDP_GRO, struct.pack('<i', 1200)),
    'pktinfo6': (IPPROTO_IPV6, IPV6_PKTINFO, bytes(20)),
    'two': (IPPROTO_IP, IP_TOS, b'\x01'),
}.items():
    rec = struct.pack('<iiB', level, ty, len(data)) + data
    write('cmsg_roundtrip', name, rec + (rec if name == 'two' else b''))

AF_INET, AF_INET6 = 2, 10
write('sockaddr', 'v4', struct.pack('<H', AF_INET) + struct.pack('>H', 5353) + bytes([127, 0, 0, 1]) + bytes(8))
write('sockaddr', 'v6', struct.pack('<H', AF_INET6) + struct.pack('>H', 443) + struct.pack('<I', 7) + bytes(15) + b'\1' + struct.pack('<I', 2))
write('sockaddr', 'v6-short', (struct.pack('<H', AF_INET6) + bytes(26)))
write('sockaddr', 'unix', struct.pack('<H', 1) + b'/tmp/x\0')
write('sockaddr', 'empty', b'')

for name, stride, payload in [
    ('even', 100, bytes(range(100)) * 10),
    ('short-last', 100, bytes(950)),
    ('stride-zero', 0, bytes(64)),
    ('stride-past-end', 5000, bytes(1200)),
    ('stride-max', 0xffffffff, bytes(10)),
    ('empty', 1200, b''),
    ('one-byte', 1, b'abc'),
]:
    write('gro_split', name, struct.pack('<I', stride) + payload)

def parts(size, chunks):
    return struct.pack('<H', size) + b''.join(bytes([len(c)]) + c for c in chunks)

write('send_cut', 'even', parts(4, [b'abcd', b'efgh']))
write('send_cut', 'spanning', parts(3, [b'ab', b'', b'cdefg', b'h']))
write('send_cut', 'empty', parts(10, []))
write('send_cut', 'size-zero', parts(0, [b'xyz']))

# errqueue: sock_extended_err (errno u32, origin, type, code, pad, info u32, data u32) and
# the offender's sockaddr; also whole control buffers holding one.
IP_RECVERR, IPV6_RECVERR = 11, 25
def ext(errno, origin, ty, code, info, offender=b''):
    return struct.pack('<IBBBBII', errno, origin, ty, code, 0, info, 0) + offender
sin = struct.pack('<H', AF_INET) + bytes(2) + bytes([10, 83, 1, 254]) + bytes(8)
sin6 = struct.pack('<H', AF_INET6) + bytes(6) + bytes.fromhex('fd830001000000000000000000000' + '0fe') + bytes(4)
for name, data in {
    'port-unreachable': ext(111, 2, 3, 3, 0, sin),
    'frag-needed': ext(90, 2, 3, 4, 1280, sin),
    'packet-too-big6': ext(90, 3, 2, 0, 1280, sin6),
    'local': ext(90, 1, 0, 0, 1500, bytes(16)),
    'other-origin': ext(1, 9, 0, 0, 0),
    'short': ext(111, 2, 3, 3, 0)[:12],
    'offender-truncated': ext(111, 2, 3, 3, 0, sin[:6]),
    'errno-huge': ext(0xffffffff, 2, 3, 3, 0, sin),
}.items():
    write('errqueue', name, data)
write('errqueue', 'cmsg-v4', cmsg(IPPROTO_IP, IP_RECVERR, ext(111, 2, 3, 3, 0, sin)))
write('errqueue', 'cmsg-v6', cmsg(IPPROTO_IPV6, IPV6_RECVERR, ext(90, 3, 2, 0, 1280, sin6)))

# packed_batch: datagrams and hosts counts, u32 LE lengths, ports, host indices, a byte per
# host (0: unparsed, 1 mod 3: a v4 address, else ::1), then the data.
def batch(lengths, ports, index, hosts, data):
    u = lambda v: b''.join(struct.pack('<I', x) for x in v)
    return bytes([len(lengths), len(hosts)]) + u(lengths) + u(ports) + u(index) + bytes(hosts) + data
write('packed_batch', 'one-peer', batch([3, 3], [9, 9], [0, 0], [1], b'onetwo'))
write('packed_batch', 'many-peers', batch([1, 2, 3], [9, 10, 70000], [0, 1, 0], [1, 2], b'abbccc'))
write('packed_batch', 'bad-second-host', batch([1, 1], [9, 9], [0, 1], [1, 0], b'ab'))
write('packed_batch', 'index-past-hosts', batch([1], [9], [7], [1], b'a'))
write('packed_batch', 'length-past-end', batch([2, 0xffffffff], [9, 9], [0, 0], [1], b'ab'))
write('packed_batch', 'connected', batch([2, 2], [], [], [], b'abcd'))
write('packed_batch', 'empty', batch([], [], [], [], b''))
