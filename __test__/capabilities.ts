// What this build and this machine can do, probed once per spec file through the binding, so
// that a spec whose subject is missing says why (a printed reason, a visible skip) instead of
// failing or passing silently. Nothing here is assumed: each answer comes from a system call.
//
// Two reasons a feature can be missing on Linux:
// - the portable backend (cargo feature `portable-backend`, `.ci/portable`): no GRO; udpx
//   reports that with `setGRO ENOPROTOOPT`, as on any platform without it (README);
// - user-mode emulation (`.ci/arm64`: qemu-aarch64-static, named by UDPX_TEST_EMULATOR): qemu
//   answers ENOPROTOOPT or EFAULT for some socket options Linux has. Only those two errnos,
//   and only under an emulator, count as "refused by the emulator"; any other failure is a
//   failure.

import test from 'ava';
import type { ExecutionContext, ImplementationFn } from 'ava';
import { constants } from 'node:os';
import { backend, NativeSocket } from '../lib/native';
import { emulator } from './helpers';

const { ENOPROTOOPT, EFAULT } = constants.errno;

/** The negative errno of `call` on a fresh socket bound to 127.0.0.1, or 0. */
function onBoundSocket(call: (s: NativeSocket) => number): number {
  const s = new NativeSocket(false);
  try {
    const bound = s.bind('127.0.0.1', 0, 0);
    if (bound) throw new Error(`capability probe: bind failed with ${bound}`);
    return call(s);
  } finally {
    s.close();
  }
}

/** This build's I/O backend: `linux` (batched) or `portable`. */
export { backend };

/**
 * Why GRO is missing, or undefined when the backend has it. Only the portable backend may
 * lack it, and only with ENOPROTOOPT: on the batched backend a refusal is left to fail.
 */
export const groMissing: string | undefined = (() => {
  const err = onBoundSocket((s) => s.setGro(true));
  if (err === -ENOPROTOOPT && backend === 'portable') return 'the portable backend has no GRO (setGRO reports ENOPROTOOPT)';
  return undefined;
})();

type Option = 'recvMetadata' | 'dontFragment' | 'bindToDevice' | 'multicastInterface' | 'dropCounting';

const optionCalls: Record<Option, (s: NativeSocket) => number> = {
  recvMetadata: (s) => s.setRecvMetadata(true),
  dontFragment: (s) => s.setDontFragment(true),
  bindToDevice: (s) => s.bindDevice('lo') || s.bindDevice(null),
  multicastInterface: (s) => s.setMulticastInterface('127.0.0.1'),
  dropCounting: (s) => s.setDropCounting(true),
};

/** Why the emulator refuses `option`, or undefined (no emulator, or the option works). */
export function refusedByEmulator(option: Option): string | undefined {
  if (emulator.length === 0) return undefined;
  const err = onBoundSocket(optionCalls[option]);
  if (err !== -ENOPROTOOPT && err !== -EFAULT) return undefined;
  return `${option} fails with ${err === -EFAULT ? 'EFAULT' : 'ENOPROTOOPT'} under ${emulator.join(' ')} ` +
    '(qemu user mode does not translate it; Linux has it)';
}

/**
 * `test(title, fn)`, or a visible skip with `reason` printed when `reason` is set (a probe's
 * answer from above).
 */
export function testUnless(reason: string | undefined, title: string, fn: ImplementationFn<[]>): void {
  if (reason === undefined) {
    test(title, fn);
    return;
  }
  console.log(`skipped: ${title}: ${reason}`);
  test.skip(`${title} [skipped: ${reason}]`, fn);
}

export type { ExecutionContext };
