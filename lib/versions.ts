// What differs between the Node versions udpx follows (20, 22, 24, 26): every difference
// of node:dgram between release lines lives here, named with the version it came in, and
// the facade asks this module instead of testing versions itself.

/** The running Node's version as [major, minor, patch]. */
export const nodeVersion: readonly [number, number, number] = (() => {
  const [major, minor, patch] = process.versions.node.split('.').map((n) => parseInt(n, 10));
  return [major, minor || 0, patch || 0] as const;
})();

/** Whether the running Node is `major.minor.patch` or newer. */
export function since(major: number, minor = 0, patch = 0): boolean {
  const [a, b, c] = nodeVersion;
  if (a !== major) return a > major;
  if (b !== minor) return b > minor;
  return c >= patch;
}
