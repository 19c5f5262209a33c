#!/usr/bin/env bash
# A venv with mergekit (the merging peer) for the merge fixtures and benchmark, OUTSIDE
# the repository. mergekit pins versions of safetensors, accelerate and pydantic that the
# reference venv does not have, so it gets its own venv; torch and transformers are not
# downloaded twice: a .pth file puts the reference venv's site-packages after this venv's
# own, so mergekit's pins win and the heavy packages come from the reference venv.
#
# Usage: bench/setup_mergekit.sh   (PREFER_REFVENV: the reference venv, made first by
#        bench/setup_venv.sh; PREFER_MERGEVENV: where this venv goes, default mergevenv
#        beside the repository folder). Marker: $PREFER_MERGEVENV/.ready
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REFVENV="${PREFER_REFVENV:-$HERE/../../refvenv}"
MERGEVENV="${PREFER_MERGEVENV:-$HERE/../../mergevenv}"
MERGEKIT_VERSION="0.1.5"
[ -x "$REFVENV/bin/python" ] || { echo "no reference venv at $REFVENV (run bench/setup_venv.sh)" >&2; exit 1; }
python3 -m venv "$MERGEVENV"
site=$("$MERGEVENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
refsite=$("$REFVENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$refsite" > "$site/zz-refvenv.pth"
"$MERGEVENV/bin/python" -m pip install --progress-bar off "mergekit==$MERGEKIT_VERSION"
"$MERGEVENV/bin/python" -c "import mergekit, torch; print('mergekit', mergekit.__file__, 'torch', torch.__version__)"
touch "$MERGEVENV/.ready"
