#!/usr/bin/env bash
# Type check: udpx.Socket is accepted wherever a dgram.Socket is typed, under @types/node 20,
# 22 and 24 (pinned), each installed into a temporary folder with the repository's TypeScript.
# udpx's published declarations (dist/**/*.d.ts, native/index.d.ts, package.json) are copied
# into that folder's node_modules/udpx, so `node:dgram` resolves to that @types/node alone.
# A second program with a known error must fail, so a check that checks nothing cannot pass.
#
# Needs `npm run build` first (dist/). Prints one line per version; exits non-zero on a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

declare -A PINNED=([20]=20.19.43 [22]=22.20.6 [24]=24.19.4)
tsc="$root/node_modules/typescript/bin/tsc"
[ -f dist/index.d.ts ] || { echo "types-versions: run npm run build first (no dist/index.d.ts)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/udpx-types.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The package as it is published, declarations only.
pkg="$work/udpx"
mkdir -p "$pkg/native"
cp package.json "$pkg/"
cp native/index.d.ts "$pkg/native/"
mkdir -p "$pkg/dist"
(cd dist && find . -name '*.d.ts' -not -path './__test__/*' -exec cp --parents {} "$pkg/dist/" \;)

cat >"$work/check.ts" <<'EOF'
import * as dgram from 'node:dgram';
import * as udpx from 'udpx';

function takesDgramSocket(s: dgram.Socket): dgram.Socket { return s; }
const made: udpx.Socket = udpx.createSocket('udp4');
takesDgramSocket(made);
takesDgramSocket(udpx.createSocket({ type: 'udp6', reuseAddr: true }, () => {}));
const asDgram: dgram.Socket = made;
const ctor: new (...args: any[]) => dgram.Socket = udpx.Socket;
const created: ReturnType<typeof dgram.createSocket> = udpx.createSocket('udp4');
// The extensions stay typed on udpx's own sockets.
made.sendBatch(['a', 'b'], 41234, '127.0.0.1', (err: Error | null, sent?: number) => void [err, sent]);
const sent: number = made.stats().datagramsSent;
void [asDgram, ctor, created, sent];
EOF
cat >"$work/bad.ts" <<'EOF'
import * as dgram from 'node:dgram';
import * as udpx from 'udpx';
// Not a socket: must not type-check.
const notASocket: dgram.Socket = { close() {} };
const n: string = udpx.createSocket('udp4').stats().datagramsSent;
void [notASocket, n];
EOF

failed=0
for major in 20 22 24; do
  version="${PINNED[$major]}"
  dir="$work/types-$major"
  mkdir -p "$dir"
  (cd "$dir" && npm install --silent --no-audit --no-fund --no-save --no-package-lock "@types/node@$version" >/dev/null)
  # After the install: npm prunes what it did not install.
  ln -s "$pkg" "$dir/node_modules/udpx"
  cp "$work/check.ts" "$work/bad.ts" "$dir/"
  for f in check bad; do
    cat >"$dir/tsconfig.$f.json" <<EOF
{ "compilerOptions": { "strict": true, "noEmit": true, "target": "ES2022", "module": "commonjs",
  "moduleResolution": "node", "lib": ["ES2022", "ESNext.Disposable"], "types": ["node"],
  "typeRoots": ["./node_modules/@types"], "preserveSymlinks": true, "skipLibCheck": false },
  "files": ["$f.ts"] }
EOF
  done
  have="$(node -p "require('$dir/node_modules/@types/node/package.json').version")"
  if ! out="$(cd "$dir" && node "$tsc" -p tsconfig.check.json --listFiles 2>&1)"; then
    echo "types-versions: @types/node $have: udpx.Socket is not a dgram.Socket:"; echo "$out"; failed=1; continue
  fi
  # dgram's types came from this folder's @types/node, and nothing from the repository's.
  if ! grep -qx "$dir/node_modules/@types/node/dgram.d.ts" <<<"$out" || grep -v "^$root/node_modules/typescript/lib/" <<<"$out" | grep -q "^$root/"; then
    echo "types-versions: @types/node $have: checked against the wrong declarations:"; echo "$out"; failed=1; continue
  fi
  if bad="$(cd "$dir" && node "$tsc" -p tsconfig.bad.json 2>&1)" || [ "$(grep -c 'error TS2' <<<"$bad")" -ne 2 ]; then
    echo "types-versions: @types/node $have: the program with two type errors did not fail with exactly them:"; echo "$bad"; failed=1; continue
  fi
  echo "types-versions: @types/node $have: udpx.Socket is a dgram.Socket (and the known-bad program fails with 2 errors)"
done
exit $failed
