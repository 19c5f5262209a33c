#!/usr/bin/env bash
# Merge benchmark: prefer merge vs mergekit-yaml on the same YAML and the same models
# (a base and three fine-tunes of SmolLM-135M's shape, bfloat16), one TIES merge and one
# SLERP merge, each timed with /usr/bin/time -v (wall time and peak RSS). Ratios in
# docs/benchmarks.md come from repeated runs of these two commands.
#
#   bench/merge/run.sh        PREFER_BENCH_DIR (default: bench-cache beside the repo)
#                             PREFER_MERGEVENV (bench/setup_mergekit.sh), CARGO_TARGET_DIR
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/../.."
WORK="${PREFER_BENCH_DIR:-$ROOT/../bench-cache}/merge"
MERGEVENV="${PREFER_MERGEVENV:-$ROOT/../mergevenv}"
PREFER="${CARGO_TARGET_DIR:-$ROOT/target}/release/prefer"
[ -x "$PREFER" ] || (cd "$ROOT" && cargo build --release -p prefer-cli)
[ -f "$WORK/models/ft2/model.safetensors" ] || "$MERGEVENV/bin/python" "$HERE/make_models.py" "$WORK/models" >/dev/null
cat > "$WORK/ties.yml" <<YML
merge_method: ties
base_model: $WORK/models/base
models:
  - model: $WORK/models/ft0
    parameters: {weight: 1.0, density: 0.5}
  - model: $WORK/models/ft1
    parameters: {weight: 0.6, density: 0.5}
  - model: $WORK/models/ft2
    parameters: {weight: 0.4, density: 0.5}
dtype: bfloat16
YML
cat > "$WORK/slerp.yml" <<YML
merge_method: slerp
base_model: $WORK/models/base
slices:
  - sources:
      - {model: $WORK/models/base, layer_range: [0, 30]}
      - {model: $WORK/models/ft0, layer_range: [0, 30]}
parameters:
  t: [0, 0.5, 1]
dtype: bfloat16
YML
for cfg in ties slerp; do
  for tool in prefer mergekit; do
    out="$WORK/out-$tool-$cfg"; rm -rf "$out"
    if [ $tool = prefer ]; then cmd=("$PREFER" merge "$WORK/$cfg.yml" "$out");
    else cmd=("$MERGEVENV/bin/mergekit-yaml" "$WORK/$cfg.yml" "$out" --no-copy-tokenizer --quiet); fi
    /usr/bin/time -v "${cmd[@]}" >/dev/null 2>"$WORK/time-$tool-$cfg.txt"
    wall=$(grep "Elapsed (wall" "$WORK/time-$tool-$cfg.txt" | awk '{print $NF}')
    rss=$(grep "Maximum resident" "$WORK/time-$tool-$cfg.txt" | awk '{print $NF}')
    echo "$cfg $tool wall $wall peak_rss_kb $rss"
  done
  "$MERGEVENV/bin/python" - "$WORK/out-prefer-$cfg" "$WORK/out-mergekit-$cfg" <<'PY'
import sys, glob, torch
from safetensors.torch import load_file
def load(d):
    t = {}
    for f in glob.glob(d + "/*.safetensors"):
        t.update(load_file(f))
    return t
a, b = load(sys.argv[1]), load(sys.argv[2])
assert sorted(a) == sorted(b), (set(a) ^ set(b))
d = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
print(f"  tensors {len(a)}, max |prefer - mergekit| {d:.3g} (bfloat16 outputs)")
PY
done
