#!/usr/bin/env bash
# One GRPO step, prefer against TRL's GRPOTrainer, in this one script: a group of 8
# completions of 64 tokens of one prompt, the dapo loss, β = 0, one thread each, on
# stories260K and on a random SmolLM-135M-shaped model; time per step, generation apart,
# peak memory. docs/benchmarks.md records the figures.
#
#   bench/train/grpo_bench.sh [STEPS]          (default 3; ~6 min on 2 cores)
#   PREFER_REFVENV (default ../refvenv) must hold torch, transformers, trl
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-3}
PY=${PREFER_REFVENV:-../refvenv}/bin/python
export CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export MIMALLOC_PURGE_DELAY=-1
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p prefer-train --example bench_grpo_step
BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_grpo_step
SMOL=${SMOLLM_DIR:-${TMPDIR:-/tmp}/prefer-smollm-shaped}
[ -f "$SMOL/model.safetensors" ] || "$PY" bench/train/make_smollm_shaped.py "$SMOL" >/dev/null
OUT=$(mktemp)
for cfg in stories260K smollm; do
  dir=../shared/models/stories260K; [ "$cfg" = smollm ] && dir=$SMOL
  "$BIN" "$dir" "$STEPS" | sed "s/^{/{\"config\":\"$cfg\",/" | tee -a "$OUT"
  "$PY" bench/train/peer_trl_grpo.py "$dir" "$STEPS" 2>/dev/null | tail -1 | sed "s/^{/{\"config\":\"$cfg\",/" | tee -a "$OUT"
done
"$PY" - "$OUT" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("\n| model | implementation | step (s) | generation (s) | rest of the step (s) | step vs TRL | peak RSS (MB) | vs TRL | tokens per completion |")
print("|---|---|---|---|---|---|---|---|---|")
for cfg in ["stories260K", "smollm"]:
    rs = [r for r in rows if r["config"] == cfg]
    trl = next(r for r in rs if r["impl"].startswith("trl"))
    for r in rs:
        print(f"| {cfg} | {r['impl']} | {r['step_s_median']:.3f} | {r['gen_s_median']:.3f} | "
              f"{r['step_s_median'] - r['gen_s_median']:.3f} | {r['step_s_median'] / trl['step_s_median']:.2f}x | "
              f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / trl['peak_rss_mb']:.2f}x | {r['mean_completion_tokens']:.1f} |")
PYEOF
rm -f "$OUT"
