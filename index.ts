// udpx: node:dgram on a Rust core. Drop-in: the same exports, events and errors.

import type * as dgram from 'node:dgram';
import { createSocket as create, Socket as SocketImpl } from './lib/socket';

/** The dgram Socket class; udpx sockets are accepted wherever `dgram.Socket` is typed. */
export const Socket: typeof dgram.Socket = SocketImpl as unknown as typeof dgram.Socket;
export type Socket = dgram.Socket;

export const createSocket: typeof dgram.createSocket = create as unknown as typeof dgram.createSocket;
