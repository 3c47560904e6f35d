// The compiled binding, loaded by the loader that `napi build` generates. Errno values and
// bind flags come from here, one source shared with the Rust side.

import { loadNative } from './platforms';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const binding = loadNative(() => require('../../native/index.js') as typeof import('../native/index'));

export const NativeSocket = binding.NativeSocket;
export type NativeSocket = import('../native/index').NativeSocket;

/**
 * Batch sends as plain functions on a socket's `batchSender()`: cheaper per call than a
 * NativeSocket method (napi-rs's receiver bookkeeping). `sendPacked(sender, hosts, data,
 * count, lengths, ports, hostIndex)`, `sendSegmented(sender, data, bytes, segment, port, ip)`.
 */
export const sendPacked = binding.sendPacked;
export const sendSegmented = binding.sendSegmented;
export type BatchSender = ReturnType<NativeSocket['batchSender']>;

/** Reports an exception as uncaught, now (Node's 'uncaughtException' path). */
export const reportUncaught = binding.reportUncaught;

/** The core's I/O backend in this build: `linux` (batched), `windows` or `portable`. */
export const backend: string = binding.backend();

/** Negative errno values, as libuv and the binding return them. */
export const errno = {
  EAGAIN: binding.UV_EAGAIN,
  EBADF: binding.UV_EBADF,
  EINVAL: binding.UV_EINVAL,
  EEXIST: binding.UV_EEXIST,
  ECANCELED: binding.UV_ECANCELED,
} as const;

/** `NativeSocket.bind` flags. */
export const FLAG_REUSE_ADDR = binding.BIND_REUSE_ADDR;
export const FLAG_IPV6_ONLY = binding.BIND_IPV6_ONLY;
export const FLAG_REUSE_PORT = binding.BIND_REUSE_PORT;
