// net.BlockList options (receiveBlockList, sendBlockList): checked once, consulted per address.

import { BlockList, isIP } from 'node:net';

import { ERR_INVALID_ARG_TYPE } from './errors';
import { versions } from './versions';

/** Node's test (net.BlockList.isBlockList, from 22.13.0); before it, instanceof. */
const isBlockList: (v: unknown) => boolean = versions.blockLists
  ? (v) => (BlockList as unknown as { isBlockList(v: unknown): boolean }).isBlockList(v)
  : (v) => v instanceof BlockList;

/** A BlockList option, or undefined when none is given (any falsy value, as node:dgram). */
export function checkBlockList(list: unknown, name: string): BlockList | undefined {
  if (!list) return undefined;
  if (!isBlockList(list)) throw ERR_INVALID_ARG_TYPE(name, 'net.BlockList', list);
  return list as BlockList;
}

export function isBlocked(list: BlockList | undefined, ip: string): boolean {
  if (!list) return false;
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}
