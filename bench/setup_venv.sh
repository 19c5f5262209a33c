#!/usr/bin/env bash
# Recreate the Python reference venv used by the peers in bench/ and by the fixture
# scripts under crates/*/tests/fixtures/. The venv lives OUTSIDE the repository
# (default: refvenv beside the repository folder; PREFER_REFVENV=/path or REFVENV=/path moves it). Nothing here is committed.
#
# Stages (other developers poll the marker files):
#   1. light: numpy pandas pyarrow scipy scikit-learn evalica choix datasets, fschat
#      -> touch $REFVENV/.ready-light
#   2. heavy: torch transformers trl sentence-transformers (torch from PyPI is the CUDA
#      wheel, ~3 GB; expected) -> touch $REFVENV/.ready
#   3. FastChat sources (optional): PyPI's fschat is 0.2.36 (Feb 2024) and predates the
#      current rating code, so the rating peers read FastChat's source at run time from
#      $REFVENV/fastchat-src/<commit>/fastchat/serve/monitor/. Give a git directory of
#      github.com/lm-sys/FastChat in FASTCHAT_GIT (e.g. the one the `fetch` tool returns,
#      or a `git clone --bare`) and this extracts the two commits the scripts use.
#
# Usage: bench/setup_venv.sh            # latest versions (what was installed first)
#        bench/setup_venv.sh --pinned   # exact versions from bench/requirements-ref.txt
#        bench/setup_venv.sh --ci       # only what the tests run (torch, transformers,
#                                       # safetensors, numpy; pinned) -> $REFVENV/.ready-ci
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REFVENV="${PREFER_REFVENV:-${REFVENV:-$HERE/../../refvenv}}"
PY="${PYTHON:-python3}"
FASTCHAT_COMMITS="0e6d3e4beaab66f4d3f93db72541a4abab8af28d 5095615810cf613dba7f27dd155f571fcff976d8"

if [ ! -x "$REFVENV/bin/python" ]; then
  "$PY" -m venv "$REFVENV"
  "$REFVENV/bin/python" -m pip install --upgrade pip wheel
fi
PIP=("$REFVENV/bin/python" -m pip install --progress-bar off)

fastchat_src() {
  if [ -z "${FASTCHAT_GIT:-}" ]; then
    echo "note: FASTCHAT_GIT unset; FastChat sources not extracted (see bench/README.md)" >&2
    return 0
  fi
  for c in $FASTCHAT_COMMITS; do
    d="$REFVENV/fastchat-src/${c:0:8}"
    mkdir -p "$d"
    git --git-dir="$FASTCHAT_GIT" archive "$c" fastchat/serve/monitor fastchat/__init__.py \
      | tar -x -C "$d"
    { echo "$c"; git --git-dir="$FASTCHAT_GIT" log -1 --format=%cd "$c"; } > "$d/COMMIT"
  done
}

if [ "${1:-}" = "--ci" ]; then
  # What the test suite itself runs (checkpoints loaded by transformers); the rest of the
  # peers are for fixtures and benchmarks. Versions as in requirements-ref.txt.
  pins=()
  for p in torch transformers safetensors numpy; do
    pins+=("$(grep -i "^$p==" "$HERE/requirements-ref.txt")")
  done
  "${PIP[@]}" "${pins[@]}"
  "$REFVENV/bin/python" -c "import torch, transformers, safetensors, numpy"
  touch "$REFVENV/.ready-ci"
  exit 0
fi

if [ "${1:-}" = "--pinned" ]; then
  "${PIP[@]}" -r "$HERE/requirements-ref.txt"
  touch "$REFVENV/.ready-light" "$REFVENV/.ready"
  fastchat_src
  exit 0
fi

# Stage 1: light peers. fschat is installed without extras; its base deps are light
# (fastapi, httpx, tiktoken, ...). Its elo_analysis.py needs pytz+plotly to import, which
# the scripts avoid by loading only the functions they use.
"${PIP[@]}" numpy pandas pyarrow scipy scikit-learn evalica choix datasets
"${PIP[@]}" fschat
"$REFVENV/bin/python" -c "import numpy, pandas, pyarrow, scipy, sklearn, evalica, choix, datasets"
touch "$REFVENV/.ready-light"

# Stage 2: heavy peers.
"${PIP[@]}" torch
"${PIP[@]}" transformers trl sentence-transformers
"$REFVENV/bin/python" -c "import torch, trl, transformers, sentence_transformers"
touch "$REFVENV/.ready"

fastchat_src
