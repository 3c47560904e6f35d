// ESM loader hooks for udpx/register, registered by index.ts with module.registerHooks()
// (in-thread, synchronous) where Node has it, else with module.register() (on Node's loader
// thread). Either way udpx's location and export names come in through `initialize`, and udpx
// itself is only ever loaded on the main thread (by the module below). The hooks never wait,
// so the same functions serve both APIs.

import { pathToFileURL } from 'node:url';

interface Data {
  main: string; // path of udpx's main module (dist/index.js)
  libDir: string; // file URL of udpx's dist/lib/ directory, ending in '/'
  names: string[]; // udpx's export names, to re-export one by one
}

interface Context {
  parentURL?: string;
  [key: string]: unknown;
}
interface Result {
  url?: string;
  format?: string | null;
  source?: string;
  shortCircuit?: boolean;
}
type Next = (specifierOrUrl: string, context?: Context) => Result | Promise<Result>;

let data: Data | undefined;
let facadeURL = '';
let mainURL = '';

export function initialize(d: Data): void {
  data = d;
  mainURL = pathToFileURL(d.main).href;
  facadeURL = mainURL + '?udpx-register-esm';
}

// `dgram` and `node:dgram` resolve to the facade module. Imports from inside udpx itself keep
// the builtin, so udpx may build on it without a cycle.
export function resolve(specifier: string, context: Context, next: Next) {
  const parent = context.parentURL ?? '';
  const fromUdpx = parent === mainURL || parent === facadeURL || (!!data && parent.startsWith(data.libDir));
  if (data && (specifier === 'dgram' || specifier === 'node:dgram') && !fromUdpx) {
    return { url: facadeURL, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}

// The facade: an ES module over the same CommonJS module object `require('dgram')` returns,
// so ESM and CJS users (and libraries) share one udpx module instance.
export function load(url: string, context: Context, next: Next) {
  if (data && url === facadeURL) {
    const main = JSON.stringify(data.main);
    const source =
      `import { createRequire } from 'node:module';\n` +
      `const udpx = createRequire(${main})(${main});\n` +
      `export default udpx;\n` +
      data.names.map((n) => `export const ${n} = udpx.${n};\n`).join('');
    return { format: 'module', source, shortCircuit: true };
  }
  return next(url, context);
}
