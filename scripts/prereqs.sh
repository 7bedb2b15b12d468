#!/usr/bin/env bash
# Installs (or checks) the system packages the full build needs: cmake and clang's
# libclang build llama.cpp for the `gguf` feature, which `./scripts/test.sh` (all features)
# compiles. Debian/Ubuntu get them from apt; elsewhere this names what to install.
set -euo pipefail
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v clang >/dev/null 2>&1 || missing+=(clang)
# bindgen loads libclang at build time.
if ! ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/*/libclang*.so* >/dev/null 2>&1; then
  missing+=(libclang-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "prerequisites: installing ${missing[*]} (llama.cpp for the gguf feature)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: missing ${missing[*]}; install them (e.g. apt-get install cmake clang libclang-dev) and rerun" >&2
    exit 1
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  $SUDO apt-get install -y -qq cmake clang libclang-dev >/dev/null
else
  echo "error: missing ${missing[*]} and no apt-get here; install cmake, clang and libclang with your package manager" >&2
  exit 1
fi
