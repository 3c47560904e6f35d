// udpx/register: the drop-in switch. Preload it and every `dgram` / `node:dgram` in the
// process resolves to udpx, so existing code and libraries run on udpx unchanged:
//
//   node -r udpx/register app.js          (CommonJS; also hooks ESM on Node >= 20.6)
//   node --import udpx/register app.mjs   (ESM; also hooks CommonJS)
//
// Both entry points run this same file (dist is CommonJS; `--import` of a CommonJS file is
// fine), and it installs both hooks, because one program can mix `require` and `import`.

import Module = require('node:module');
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const IDS = new Set(['dgram', 'node:dgram']);
// udpx's main module, compiled to dist/index.js (this file is dist/lib/register/index.js).
const UDPX_MAIN = path.join(__dirname, '..', '..', 'index.js');
// Requests made by udpx's own files (dist/index.js, dist/lib/**) get the real builtin, so udpx
// may build on it without a cycle.
const LIB_DIR = path.join(__dirname, '..') + path.sep;
const isUdpx = (file: string | null | undefined): boolean => !!file && (file === UDPX_MAIN || file.startsWith(LIB_DIR));

const udpx = (): unknown => require(UDPX_MAIN);

interface ModuleInternals {
  _load(request: string, parent: { filename?: string | null } | null | undefined, isMain: boolean): unknown;
}
const M = Module as unknown as ModuleInternals;

// Guard against installing twice (e.g. both `-r` and `--import`, or two copies of udpx).
const INSTALLED = Symbol.for('udpx.register.installed');
const g = globalThis as Record<symbol, unknown>;

if (!g[INSTALLED]) {
  g[INSTALLED] = true;

  // CommonJS: every `require()` (including `createRequire()` from ESM and the requires inside
  // CommonJS packages imported by ESM) goes through Module._load, and builtins (with or
  // without the `node:` prefix) are answered there. Neither require.cache nor
  // _resolveFilename can redirect a builtin id, so _load is the hook point.
  const load = M._load;
  M._load = function (request, parent, isMain) {
    if (IDS.has(request) && !isUdpx(parent?.filename)) return udpx();
    return load.call(this, request, parent, isMain);
  };

  // process.getBuiltinModule('dgram') (Node >= 20.16 / 22.3) bypasses both loaders: redirect it too.
  const proc = process as unknown as { getBuiltinModule?: (id: string) => unknown };
  const getBuiltin = proc.getBuiltinModule;
  if (typeof getBuiltin === 'function') {
    proc.getBuiltinModule = function (id: string) {
      return IDS.has(id) ? udpx() : getBuiltin.call(this, id);
    };
  }

  // ESM: `import ... from 'dgram'` never reaches Module._load. Resolve/load hooks map the
  // specifier to a small ES module that re-exports this very CommonJS module object: default
  // export = require('dgram'), and one named export per udpx export. The names are taken here,
  // on the main thread, so the namespace matches udpx's exports exactly (no `__esModule`,
  // nothing the CJS lexer guessed). Older Nodes have neither hook API: CommonJS is still switched.
  const hooks = Module as unknown as {
    registerHooks?: (h: { resolve: unknown; load: unknown }) => unknown;
    register?: (s: string, o: object) => void;
  };
  if (typeof hooks.registerHooks === 'function' || typeof hooks.register === 'function') {
    const names = Object.keys(udpx() as object).filter(
      (n) => n !== 'default' && n !== '__esModule' && /^[A-Za-z_$][\w$]*$/.test(n),
    );
    const data = { main: UDPX_MAIN, libDir: pathToFileURL(LIB_DIR).href, names };
    if (typeof hooks.registerHooks === 'function') {
      // In-thread, synchronous hooks (22.15.0, 23.5.0). Node 26 deprecates module.register()
      // (DEP0205, a runtime warning), so the hooks go here wherever this exists.
      const h = require('./hooks') as typeof import('./hooks');
      h.initialize(data);
      hooks.registerHooks({ resolve: h.resolve, load: h.load });
    } else {
      // Node 20.6 to 22.14: hooks on the loader thread, with the data through `initialize`.
      hooks.register!(pathToFileURL(path.join(__dirname, 'hooks.js')).href, { data });
    }
  }
}
