// Shared helpers for the ava specs: the udpx module and bounded waits.

import * as path from 'node:path';
import type * as dgram from 'node:dgram';

/** udpx as a user loads it: the compiled package entry. */
export const udpx: typeof dgram = require(path.resolve(__dirname, '..', 'index.js'));

/** Resolves with the first emission of `event`, or rejects after `ms`. */
export function once<T extends any[] = any[]>(emitter: NodeJS.EventEmitter, event: string, ms = 2000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, on);
      reject(new Error(`timed out waiting for '${event}'`));
    }, ms);
    const on = (...args: any[]) => {
      clearTimeout(timer);
      resolve(args as T);
    };
    emitter.once(event, on);
  });
}

/** A udpx socket bound to loopback on an ephemeral port. */
export async function bound(type: 'udp4' | 'udp6' = 'udp4', options: Partial<dgram.SocketOptions> = {}): Promise<dgram.Socket> {
  const s = udpx.createSocket({ type, ...options });
  s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1');
  await once(s, 'listening');
  return s;
}

export function closeAll(...sockets: dgram.Socket[]): Promise<void[]> {
  return Promise.all(sockets.map((s) => new Promise<void>((r) => {
    try { s.close(() => r()); } catch { r(); }
  })));
}

/** At most `n` children at a time (the machines may have few CPUs). */
export function limiter(n: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async function <T>(fn: () => Promise<T>): Promise<T> {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
