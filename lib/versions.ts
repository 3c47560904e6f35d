// What differs between the Node versions udpx follows (20, 22, 24, 26): every difference
// of node:dgram between release lines lives here, named with the Node versions it came in,
// and the facade asks this module instead of testing versions itself.
//
// Read from lib/dgram.js, lib/internal/dgram.js, lib/internal/validators.js and
// lib/internal/errors.js of 20.20.2, 22.23.5, 24.22.3 and 26.12.1, from the CHANGELOG.md each
// release ships (which names the version of each change), and from node:dgram's behaviour
// (its C++ half) measured on those binaries.

/** The running Node's version as [major, minor, patch]. */
export const nodeVersion: readonly [number, number, number] = parse(process.versions.node);

function parse(v: string): [number, number, number] {
  const [major, minor, patch] = v.split('.').map((n) => parseInt(n, 10));
  return [major, minor || 0, patch || 0];
}

function atLeast(have: readonly number[], want: readonly number[]): boolean {
  for (let i = 0; i < 3; i++) if (have[i] !== want[i]) return have[i] > want[i];
  return true;
}

/**
 * Whether the running Node has a change that came in the given releases, one per release
 * line it landed on (a change backported to 24.19.0 that came in 26.4.0 is
 * `cameIn('24.19.0', '26.4.0')`): on a listed line, from that release on; on a later
 * line, always; on an earlier one, never.
 */
export function cameIn(...releases: string[]): boolean {
  return hasChange(nodeVersion, releases);
}

/** cameIn() for a given version (exported for the specs). */
export function hasChange(version: readonly number[], releases: string[]): boolean {
  let best: [number, number, number] | undefined;
  for (const r of releases) {
    const v = parse(r);
    if (v[0] <= version[0] && (!best || v[0] > best[0])) best = v;
  }
  if (!best) return false;
  return best[0] < version[0] || atLeast(version, best);
}

/** The differences, each with the versions it came in. */
export const versions = {
  /**
   * `reusePort` option (SO_REUSEPORT; implies exclusive in a cluster worker): 22.12.0.
   * udpx offers it on every version.
   */
  reusePort: cameIn('22.12.0'),
  /**
   * `receiveBlockList` / `sendBlockList` options and ERR_IP_BLOCKED: 22.13.0, checked with
   * `net.BlockList.isBlockList()` (same release). udpx offers them on every version; before
   * that release an option is accepted when it is `instanceof net.BlockList`.
   */
  blockLists: cameIn('22.13.0'),
  /**
   * `[Symbol.asyncDispose]()` awaits close() (`await` instead of `return`, one more
   * microtask before it settles): 20.20.2 returns, 22.0.0 awaits.
   */
  asyncDisposeAwaits: cameIn('22.0.0'),
  /**
   * addMembership/dropMembership when ToString of the group throws (a Symbol, a throwing
   * toString): the C++ handle goes on with the interface. Before: the interface is converted
   * and its exception propagates, else the group's (20.20.2). After: a string interface
   * leaves the group's exception; any other (undefined and null too) is converted, which
   * drops the group's: the conversion's own exception propagates, else the call fails with
   * EINVAL ('' as the group). Measured on 20.20.2, 22.0.0, 22.21.0, 24.9.0, 24.22.3, 26.12.1.
   */
  membershipGroupToStringDeferred: cameIn('22.0.0'),
  /**
   * validatePort(port, name, false) rejects every port that is 0 as a number, so "0",
   * " 0 ", "0x0" too (`+port === 0`): 24.19.0, 26.5.0 (connect(), send()).
   */
  portZeroStringRejected: cameIn('24.19.0', '26.5.0'),
  /**
   * The default lookup resolves an IP literal of the socket's family to itself on the next
   * tick without calling dns.lookup, and reads dns.lookup when it is called (not when the
   * socket is created): 24.19.0, 26.5.0.
   */
  defaultLookupSkipsLiterals: cameIn('24.19.0', '26.5.0'),
  /** `socket.bindSync([options])` and `socket.connectSync(port[, address])`: 24.19.0, 26.4.0. */
  syncBindConnect: cameIn('24.19.0', '26.4.0'),
  /**
   * bind(..., callback) watches errorMonitor instead of adding an 'error' listener, so a
   * failed bind with a callback and no 'error' listener is an uncaught error: 24.21.0,
   * 26.8.0. Before, the callback's own listener swallowed it.
   */
  bindErrorsNotSwallowed: cameIn('24.21.0', '26.8.0'),
  /**
   * Error messages name an object by `value.constructor?.name`, read once, and only when
   * it is a non-empty string (else util.inspect): 24.22.0, 26.9.0. Before, `'name' in
   * value.constructor` decided, reading `constructor` twice.
   */
  errorsReadConstructorNameOnce: cameIn('24.22.0', '26.9.0'),
  /**
   * The deprecated private API (DEP0112) is gone: `_handle`, `_receiving`, `_bindState`,
   * `_queue`, `_reuseAddr`, `_healthCheck()`, `_stopReceiving()` and
   * `dgram._createSocketHandle()`. Present in every 24.x (24.22.3), absent from 26.0.0
   * (the removal is a 25.0.0 semver-major change).
   */
  privateApiRemoved: cameIn('25.0.0'),
} as const;
