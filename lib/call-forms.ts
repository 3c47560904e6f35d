// The call forms of send() and bind(), turned into one shape each, with node:dgram's
// argument checks in node:dgram's order (lib/dgram.js is the reference).

import { Buffer } from 'node:buffer';
import { types } from 'node:util';

import {
  ERR_BUFFER_OUT_OF_BOUNDS,
  ERR_INVALID_ARG_TYPE,
  ERR_SOCKET_DGRAM_IS_CONNECTED,
} from './errors';
import { isInt32, validatePort, validateString } from './validate';

export type BufferLike = string | NodeJS.ArrayBufferView;
export type Callback = (...args: any[]) => void;

const BUFFER_TYPES = ['Buffer', 'TypedArray', 'DataView', 'string'];

/** send()'s arguments, whichever form they came in. */
export interface SendArgs {
  list: Buffer[];
  port: any;
  address: any;
  callback: Callback | undefined;
}

// Call forms, unconnected:
//   send(buffer, offset, length, port[, address][, callback])
//   send(bufferOrList, port[, address][, callback])
// connected:
//   send(buffer, offset, length[, callback])
//   send(bufferOrList[, callback])
export function sendArgs(connected: boolean, buffer: any, offset: any, length: any, port: any, address: any, callback: any): SendArgs {
  let list: Buffer[] | null;
  if (!connected) {
    if (address || (port && typeof port !== 'function')) {
      buffer = sliceBuffer(buffer, offset, length);
    } else {
      callback = port;
      port = offset;
      address = length;
    }
  } else {
    if (typeof length === 'number') {
      buffer = sliceBuffer(buffer, offset, length);
      if (typeof port === 'function') {
        callback = port;
        port = null;
      }
    } else {
      callback = offset;
    }
    if (port || address) throw ERR_SOCKET_DGRAM_IS_CONNECTED();
  }

  if (!Array.isArray(buffer)) {
    if (typeof buffer === 'string') {
      list = [Buffer.from(buffer)];
    } else if (!types.isArrayBufferView(buffer)) {
      throw ERR_INVALID_ARG_TYPE('buffer', BUFFER_TYPES, buffer);
    } else {
      list = [buffer as Buffer];
    }
  } else if (!(list = fixBufferList(buffer))) {
    throw ERR_INVALID_ARG_TYPE('buffer list arguments', BUFFER_TYPES, buffer);
  }

  if (!connected) port = validatePort(port, 'Port', false);

  if (typeof callback !== 'function') callback = undefined;

  if (typeof address === 'function') {
    callback = address;
    address = undefined;
  } else if (address != null) {
    validateString(address, 'address');
  }
  return { list, port, address, callback };
}

function sliceBuffer(buffer: any, offset: any, length: any): Buffer {
  if (typeof buffer === 'string') {
    buffer = Buffer.from(buffer);
  } else if (!types.isArrayBufferView(buffer)) {
    throw ERR_INVALID_ARG_TYPE('buffer', BUFFER_TYPES, buffer);
  }
  offset = offset >>> 0;
  length = length >>> 0;
  if (offset > buffer.byteLength) throw ERR_BUFFER_OUT_OF_BOUNDS('offset');
  if (offset + length > buffer.byteLength) throw ERR_BUFFER_OUT_OF_BOUNDS('length');
  return Buffer.from(buffer.buffer, buffer.byteOffset + offset, length);
}

function fixBufferList(list: BufferLike[]): Buffer[] | null {
  const out = new Array<Buffer>(list.length);
  for (let i = 0, l = list.length; i < l; i++) {
    const buf = list[i];
    if (typeof buf === 'string') out[i] = Buffer.from(buf);
    else if (!types.isArrayBufferView(buf)) return null;
    else out[i] = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return out;
}

/** One datagram of a batch as a Buffer (a view, never a copy of a view), or null. */
export function toBuffer(data: unknown): Buffer | null {
  if (typeof data === 'string') return Buffer.from(data);
  if (Buffer.isBuffer(data)) return data;
  if (types.isArrayBufferView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** The TypeError for a value that is no Buffer, TypedArray, DataView or string. */
export function notBufferLike(name: string, value: unknown): Error {
  return ERR_INVALID_ARG_TYPE(name, BUFFER_TYPES, value);
}

// Call forms of bind():
//   bind([port][, address][, callback])
//   bind(options[, callback])   options: { port, address, exclusive } or { fd, exclusive }

/** The callback of bind(): its last argument, if that is a function. */
export function bindCallback(args: IArguments): Callback | undefined {
  const cb = args.length && args[args.length - 1];
  return typeof cb === 'function' ? cb : undefined;
}

/** Whether bind() was given a descriptor to adopt (`{ fd }`, fd > 0). */
export function bindsFd(port: any): boolean {
  // node:dgram first asks whether it was handed a UDP handle (cluster internals); udpx
  // takes none, but reads the property in the same order.
  if (port !== null && typeof port === 'object') void port.recvStart;
  return port !== null && typeof port === 'object' && isInt32(port.fd) && port.fd > 0;
}

/** bind()'s port, address and exclusive flag, whichever form they came in. */
export function bindArgs(port: any, address_: any, type: string): { port: any; address: string; exclusive: boolean } {
  let address: any;
  let exclusive: boolean;
  if (port !== null && typeof port === 'object') {
    address = port.address || '';
    exclusive = !!port.exclusive;
    port = port.port;
  } else {
    address = typeof address_ === 'function' ? '' : address_;
    exclusive = false;
  }
  if (!address) address = type === 'udp4' ? '0.0.0.0' : '::';
  return { port, address, exclusive };
}

