// Sockets in cluster workers: as node:dgram does, a worker asks the primary for the socket
// (cluster._getServer) unless it binds exclusively, and every worker reads the one socket the
// primary holds.

import { errno } from './native';
import { kState, State } from './state';

/** libuv's bind flags (uv.h), which the cluster primary passes to Node's own handle. */
const UV_UDP_IPV6ONLY = 1;
const UV_UDP_REUSEADDR = 4;

interface ClusterWorkerApi {
  isWorker: boolean;
  _getServer(owner: unknown, options: object, cb: (err: number, handle: any) => void): void;
}

let cluster: ClusterWorkerApi | undefined;

export function isClusterWorker(): boolean {
  cluster ??= require('node:cluster') as ClusterWorkerApi;
  return cluster.isWorker;
}

/** The flags the primary binds with, in libuv's values. */
export function uvBindFlags(state: State): number {
  let flags = 0;
  if (state.reuseAddr) flags |= UV_UDP_REUSEADDR;
  if (state.ipv6Only) flags |= UV_UDP_IPV6ONLY;
  return flags;
}

interface SharingSocket {
  [kState]: State;
  close(): unknown;
}

/**
 * Asks the cluster primary for the shared socket, as node:dgram does, and adopts a
 * duplicate of its descriptor; `onBound` runs once the socket has it.
 */
export function bindServerHandle(self: SharingSocket, options: object, errCb: (err: number) => void, onBound: () => void): void {
  const state = self[kState];
  cluster!._getServer(self, options, (err, handle) => {
    if (err) {
      if (state.handle) errCb(err);
      return;
    }
    if (!state.handle) {
      handle.close();
      return;
    }
    const fd = handle.fd;
    const r = typeof fd === 'number' && fd >= 0 ? state.handle.openDup(fd) : errno.EBADF;
    if (r) {
      handle.close();
      errCb(r);
      return;
    }
    // Closing the primary's handle tells the primary this worker is done with the port,
    // so it stays open (idle and unref'd: udpx reads its own duplicate, whose poll holds the
    // loop) until this socket closes. When the cluster closes it (worker.disconnect()), the
    // socket closes too, as node:dgram's does.
    handle.unref?.();
    const close = handle.close;
    handle.close = function(this: unknown, ...args: unknown[]) {
      handle.close = close;
      if (state.clusterHandle === handle) {
        state.clusterHandle = undefined;
        if (state.handle) self.close();
      }
      return close.apply(this, args);
    };
    state.clusterHandle = handle;
    onBound();
  });
}

/** Closes the primary's handle this socket holds, if any (see bindServerHandle). */
export function releaseServerHandle(state: State): void {
  const clusterHandle = state.clusterHandle;
  state.clusterHandle = undefined;
  clusterHandle?.close();
}
