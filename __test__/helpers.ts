// Shared helpers for the ava specs: the udpx module and bounded waits.

import test from 'ava';
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

/**
 * What child-process deadlines are multiplied by: UDPX_DEADLINE_SCALE (at least 1, default
 * 1). .ci/asan sets it, because node with the AddressSanitizer runtime starts and runs
 * slower; the deadlines only bound a hang, they never decide a result.
 */
export const DEADLINE_SCALE = Math.max(1, Number(process.env.UDPX_DEADLINE_SCALE) || 1);

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

export interface ChildRun {
  stdout: string;
  stderr: string;
  /** False when the deadline passed and the child was killed. */
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The command that runs a program of this Node's CPU: `UDPX_TEST_EMULATOR` (a command line,
 * e.g. `qemu-aarch64-static -L /`) when the suite runs under user-mode emulation without
 * binfmt (.ci/arm64), where this Node cannot exec itself directly; empty otherwise.
 */
export const emulator: string[] = (process.env.UDPX_TEST_EMULATOR ?? '').split(' ').filter(Boolean);

/** `[file, args]` that start this Node with `args` (through the emulator, if any). */
export function nodeCommand(args: string[]): [string, string[]] {
  return emulator.length > 0 ? [emulator[0], [...emulator.slice(1), process.execPath, ...args]] : [process.execPath, args];
}

/** Runs `node ...args` (without inherited NODE_OPTIONS), killing it after `deadlineMs`. */
export function runNode(args: string[], deadlineMs: number): Promise<ChildRun> {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(...nodeCommand(args), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, deadlineMs * DEADLINE_SCALE);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, exited: !killed, code, signal });
    });
  });
}

/**
 * A script file in a temporary folder, written on first use and removed after the spec
 * file's tests: `path()` gives its path.
 */
export function scriptFile(prefix: string, name: string, source: string): () => string {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  let file: string | undefined;
  test.after.always(() => {
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
  return () => {
    if (!file) {
      file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), prefix)), name);
      fs.writeFileSync(file, source);
    }
    return file;
  };
}
