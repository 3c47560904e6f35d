// udpx: node:dgram on a Rust core. Drop-in: the same exports, events and errors, plus
// batched I/O and socket options node:dgram lacks.

import type * as dgram from 'node:dgram';
import type { BlockList } from 'node:net';
import { createSocket as create, Socket as SocketImpl, SocketExtensions } from './lib/socket';
import { versions } from './lib/versions';

export type { BatchCallback, BatchMessage, SocketExtensions, SocketStats } from './lib/socket';
export type { IcmpErrorInfo } from './lib/extensions';
export { DatagramBatch } from './lib/batch';
export type { IteratorOptions, RemoteInfo } from './lib/batch';

/**
 * node:dgram's synchronous bind and connect, on the Nodes that have them (24.19.0, 26.4.0;
 * absent before, as on node:dgram).
 */
export interface SyncBindConnect {
  bindSync?(options?: { port?: number; address?: string }): { address: string; family: string; port: number };
  connectSync?(port: number, address?: string): void;
}

/** A udpx socket: a `dgram.Socket` (accepted wherever one is typed) with udpx's extensions. */
export type Socket = dgram.Socket & SocketExtensions & SyncBindConnect;

/** node:dgram's options, with those Node added after 20 and udpx's own. */
export interface SocketOptions extends dgram.SocketOptions {
  reusePort?: boolean;
  receiveBlockList?: BlockList;
  sendBlockList?: BlockList;
  /** UDP GRO on receive. */
  gro?: boolean;
  /** destination, interface, tos, timestamp and truncated on every rinfo. */
  recvMetadata?: boolean;
  /** ICMP errors about sent datagrams as 'icmpError' events (IP_RECVERR; Linux). */
  recvErrors?: boolean;
}

type MessageListener = (msg: Buffer, rinfo: dgram.RemoteInfo) => void;

/** The Socket class (`instanceof` works; prefer createSocket, as with node:dgram). */
export const Socket = SocketImpl as unknown as typeof dgram.Socket & {
  new (type: dgram.SocketType | SocketOptions, listener?: MessageListener): Socket;
  prototype: Socket;
};

// node:dgram's deprecated `_createSocketHandle` (DEP0112), which the cluster primary uses to
// make the handles it shares: Node's own, re-exported so that code reaching for it runs, on
// the Nodes that still export it (versions.privateApiRemoved).
if (!versions.privateApiRemoved) {
  exports._createSocketHandle = (require('node:dgram') as { _createSocketHandle?: unknown })._createSocketHandle;
}

export function createSocket(type: dgram.SocketType, callback?: MessageListener): Socket;
export function createSocket(options: SocketOptions, callback?: MessageListener): Socket;
export function createSocket(type: dgram.SocketType | SocketOptions, callback?: MessageListener): Socket {
  return create(type, callback) as unknown as Socket;
}
