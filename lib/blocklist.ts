// net.BlockList options (receiveBlockList, sendBlockList): checked once, consulted per address.

import { BlockList, isIP } from 'node:net';

import { ERR_INVALID_ARG_TYPE } from './errors';

/** A BlockList option, or undefined when none is given (any falsy value, as node:dgram). */
export function checkBlockList(list: unknown, name: string): BlockList | undefined {
  if (!list) return undefined;
  if (!(list instanceof BlockList)) throw ERR_INVALID_ARG_TYPE(name, 'net.BlockList', list);
  return list;
}

export function isBlocked(list: BlockList | undefined, ip: string): boolean {
  if (!list) return false;
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}
