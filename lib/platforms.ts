// Which prebuilt binary this host needs, which ones udpx ships, and the error a user sees when
// none fits. The loader `napi build` generates says only "Cannot find native binding"; a user
// on an unsupported platform needs to read which platform they are on and which ones exist.

/** napi-rs's name for a target triple: `x86_64-unknown-linux-gnu` → `linux-x64-gnu`. */
export function platformOfTriple(triple: string): string {
  const [cpu, , os, abi] = triple.split('-');
  const arch = ({ x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' } as Record<string, string>)[cpu] ?? cpu;
  if (os === 'darwin') return `darwin-${arch}`;
  if (os === 'windows') return `win32-${arch}-${abi}`;
  return `${os}-${arch}${abi ? `-${abi}` : ''}`;
}

/** The platforms udpx publishes a binary for (the napi targets of its package.json). */
export function supportedPlatforms(): string[] {
  const pkg = require('../../package.json') as { napi: { targets: string[] } };
  return pkg.napi.targets.map(platformOfTriple);
}

/** This process's platform in napi-rs's naming (the libc on Linux, the ABI on Windows). */
export function hostPlatform(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  if (process.platform !== 'linux') return base;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return `${base}-${report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
}

/**
 * Runs `load` (the generated loader); if it finds no binary, throws an error naming this
 * platform and the supported ones, with the loader's error as `cause`.
 */
export function loadNative<T>(load: () => T): T {
  try {
    return load();
  } catch (cause) {
    const host = hostPlatform();
    const supported = supportedPlatforms();
    const hint = supported.includes(host)
      ? `its package udpx-${host} is missing or failed to load: reinstall udpx without --no-optional / --omit=optional`
      : 'this platform has no prebuilt binary';
    const error = new Error(
      `udpx: no native binary for ${host} (Node ${process.version}): ${hint}. ` +
        `Prebuilt binaries: ${supported.join(', ')}.`,
    );
    (error as Error & { code: string }).code = 'ERR_UDPX_NO_BINARY';
    (error as Error & { cause: unknown }).cause = cause;
    throw error;
  }
}
