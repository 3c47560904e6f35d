#!/usr/bin/env bash
# Runs Node's own dgram tests (test/parallel/test-dgram-* and test/sequential/test-dgram-*)
# twice with one Node binary: on node:dgram, and on udpx through udpx/register. Node's tests
# are third-party code: they are read from a copy of Node's test/ tree OUTSIDE this repository
# (the Node release's source, or a vendored copy such as github.com/denoland/node_test), and
# never committed. Not part of CI (it needs that copy).
#
#   scripts/node-dgram-tests.sh <dir holding test/common and test/parallel> [node binary]
#   WIDE=1 scripts/node-dgram-tests.sh ...   # every *dgram* file (cluster, child_process too)
#
# udpx is switched in with NODE_OPTIONS=--require <dist/lib/register/index.js>, so child
# processes the tests spawn run on udpx too. Each file gets its `// Flags:` line and 120 s.
# Prints one line per file ("<file> node=<pass|FAIL> udpx=<pass|FAIL>"), the counts, and
# keeps every run's output in $OUT (default: a temporary folder, printed at the end).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "${1:?usage: node-dgram-tests.sh <node test root> [node]}" && pwd)"
node="${2:-node}"
register="$repo/dist/lib/register/index.js"
[ -f "$register" ] || { echo "node-dgram-tests: run npm run build first" >&2; exit 1; }
out="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/node-dgram-tests.XXXXXX")}"
mkdir -p "$out"

# WIDE=1: every file with dgram in its name (cluster, child_process, ...), not only test-dgram-*.
prefix="test-dgram-"; [ "${WIDE:-0}" = 1 ] && prefix="*dgram"
mapfile -t files < <(cd "$root" && ls test/parallel/$prefix* test/sequential/$prefix* 2>/dev/null | sort)
[ ${#files[@]} -gt 0 ] || { echo "node-dgram-tests: no test-dgram-* files under $root/test" >&2; exit 1; }

run_one() { # <file> <impl>
  local file="$1" impl="$2" flags log
  flags="$(sed -n 's#^// Flags: ##p' "$root/$file" | head -1)"
  log="$out/$impl/$(basename "$file").log"
  mkdir -p "$out/$impl"
  local tmp="$out/tmp-$impl-$(basename "$file")"
  rm -rf "$tmp" && mkdir -p "$tmp"
  local env=(env -u NODE_OPTIONS NODE_TEST_DIR="$tmp")
  [ "$impl" = udpx ] && env+=(NODE_OPTIONS="--require $register")
  # shellcheck disable=SC2086 # the Flags line is a list of options
  if (cd "$root" && timeout -k 5 120 "${env[@]}" "$node" $flags "$file") >"$log" 2>&1; then
    echo pass
  else
    echo "FAIL (exit $?)" >>"$log"; echo FAIL
  fi
}

echo "node-dgram-tests: $("$node" --version) ($node), tests from $root, ${#files[@]} files; logs in $out"
pass_node=0 pass_udpx=0 only_udpx=()
for f in "${files[@]}"; do
  n="$(run_one "$f" node)"
  u="$(run_one "$f" udpx)"
  [ "$n" = pass ] && pass_node=$((pass_node + 1))
  [ "$u" = pass ] && pass_udpx=$((pass_udpx + 1))
  [ "$n" = pass ] && [ "$u" != pass ] && only_udpx+=("$f")
  echo "$f node=$n udpx=$u"
done
echo "node-dgram-tests: $("$node" --version): ${#files[@]} files; node:dgram passed $pass_node, udpx passed $pass_udpx"
for f in "${only_udpx[@]}"; do echo "node-dgram-tests: fails only on udpx: $f ($out/udpx/$(basename "$f").log)"; done
