// Two network namespaces joined by a veth pair, for specs that need a real link (MTU,
// qdiscs) rather than loopback; and running a node script inside one of them.

import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { nodeCommand } from './helpers';

export function run(...args: string[]): void {
  execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Side {
  ns: string;
  dev: string;
  cidr: string;
}

/**
 * Creates namespaces `a.ns` and `b.ns` linked by veth `a.dev`–`b.dev` with the given
 * addresses and MTU, links and loopback up. Returns null, or why the first namespace
 * could not be created (no permission, say).
 */
export function linkNamespaces(a: Side, b: Side, mtu = 1500): string | null {
  try {
    run('ip', 'netns', 'add', a.ns);
  } catch (e: any) {
    return String(e.stderr ?? e.message);
  }
  run('ip', 'netns', 'add', b.ns);
  run('ip', 'link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns);
  for (const side of [a, b]) {
    run('ip', '-n', side.ns, 'addr', 'add', side.cidr, 'dev', side.dev);
    run('ip', '-n', side.ns, 'link', 'set', side.dev, 'mtu', String(mtu), 'up');
    run('ip', '-n', side.ns, 'link', 'set', 'lo', 'up');
  }
  return null;
}

export function deleteNamespaces(...names: string[]): void {
  for (const ns of names) {
    try {
      run('ip', 'netns', 'del', ns);
    } catch {
      // not created
    }
  }
}

/** Runs `node -e script` inside `ns`; resolves with its stdout, rejects on a failure exit. */
export function nodeIn(ns: string, script: string, timeoutMs = 20000): Promise<string> {
  return new Promise((resolve, reject) => {
    const [node, args] = nodeCommand(['-e', script]);
    const child = spawn('ip', ['netns', 'exec', ns, node, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout.trim());
      else reject(new Error(`child in ${ns} exited ${code}: ${stdout} ${stderr}`));
    });
  });
}

/** Runs a command inside `ns` and returns its stdout. */
export const inNs = (ns: string, ...args: string[]): string =>
  execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

/** The Udp counters of a namespace's /proc/net/snmp (InDatagrams, SndbufErrors, ...). */
export function udpCounters(ns: string): Record<string, number> {
  const lines = inNs(ns, 'cat', '/proc/net/snmp').split('\n').filter((l) => l.startsWith('Udp: '));
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

/**
 * nftables' command, by absolute path: under npm, PATH starts with node_modules/.bin, where
 * an unrelated `nft` (@vercel/nft, a file tracer pulled in by the napi CLI) answers instead.
 */
export const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/local/sbin/nft', '/usr/bin/nft'].find((f) => fs.existsSync(f));

/**
 * Where the namespaces could not be made (`failure`, from linkNamespaces), registers the one
 * test such a spec file has: it prints why `what` did not run and asserts that the reason is
 * a permission error. Returns whether that happened (the file's real tests are then left out).
 */
export function namespacesUnavailable(failure: string | null, what: string): boolean {
  if (failure === null) return false;
  test('network namespaces are unavailable here: the reason is a permission error', (t) => {
    console.warn(`${what} not run: cannot create a network namespace: ${failure}`);
    t.regex(failure, /Operation not permitted|Permission denied/);
  });
  return true;
}
