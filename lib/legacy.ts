// What node:dgram carries for old code: the deprecated private accessors and methods
// (DEP0112; until Node 25, see versions.privateApiRemoved), and the prototype link that
// makes `socket instanceof dgram.Socket` true.

import { deprecate } from 'node:util';

import { healthCheck, kState, State } from './state';

interface LegacySocket {
  [kState]: State;
}

/** Installs the legacy members on `Socket`; `stopReceiving` is the socket's own. */
export function installLegacy<S extends LegacySocket>(Socket: { prototype: S }, stopReceiving: (socket: S) => void): void {
  const proto = Socket.prototype as any;
  const privateState: Array<[string, keyof State]> = [
    ['_handle', 'handle'],
    ['_receiving', 'receiving'],
    ['_bindState', 'bindState'],
    ['_queue', 'queue'],
    ['_reuseAddr', 'reuseAddr'],
  ];
  for (const [prop, key] of privateState) {
    Object.defineProperty(proto, prop, {
      get: deprecate(function(this: LegacySocket) {
        return this[kState][key];
      }, `Socket.prototype.${prop} is deprecated`, 'DEP0112'),
      set: deprecate(function(this: LegacySocket, val: any) {
        (this[kState] as any)[key] = val;
      }, `Socket.prototype.${prop} is deprecated`, 'DEP0112'),
    });
  }
  proto._healthCheck = deprecate(function(this: LegacySocket) {
    healthCheck(this);
  }, 'Socket.prototype._healthCheck() is deprecated', 'DEP0112');
  proto._stopReceiving = deprecate(function(this: S) {
    stopReceiving(this);
  }, 'Socket.prototype._stopReceiving() is deprecated', 'DEP0112');
}

/**
 * A udpx socket is also an instance of node:dgram's Socket (its prototype sits between
 * ours and EventEmitter's, every method of it overridden here), so that code checking
 * `socket instanceof dgram.Socket` accepts it.
 */
export function linkToDgramSocket(Socket: { prototype: object }): void {
  Object.setPrototypeOf(Socket.prototype, (require('node:dgram') as { Socket: Function }).Socket.prototype);
}
