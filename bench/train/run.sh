#!/usr/bin/env bash
# The DPO-step benchmark: prefer vs PyTorch (plain loop) vs TRL's DPOTrainer, same model
# shapes, same data sizes, one thread each, in this one script. Prints JSON lines and a
# table; docs/training.md records the figures.
#
#   bench/train/run.sh [STEPS_TINY] [STEPS_SMOLLM]        (defaults 6 and 3)
#   PREFER_REFVENV (default ../refvenv, as bench/setup_venv.sh makes it) must hold torch, transformers, trl (bench/setup_venv.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS_TINY=${1:-6}
STEPS_SMOLLM=${2:-3}
PY=${PREFER_REFVENV:-../refvenv}/bin/python
# One thread everywhere; candle's pool busy-waits (see ../shared/notes/candle-training.md).
export CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
# The benchmark example uses the `prefer` binary's allocator (mimalloc) with the setting
# the binary gives itself at start-up (crates/prefer-cli/src/main.rs).
export MIMALLOC_PURGE_DELAY=-1
# NO_BUILD=1 reuses the binary already built (when the tree is mid-edit).
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p prefer-train --example bench_dpo_step
BIN=target/release/examples/bench_dpo_step
OUT=$(mktemp)
for cfg in tiny smollm; do
  steps=$STEPS_TINY; [ "$cfg" = smollm ] && steps=$STEPS_SMOLLM
  # Alternate implementations so machine load hits all of them alike.
  "$BIN" "$cfg" "$steps" live | tee -a "$OUT"
  (cd bench/train && "$PY" peer_torch.py "$cfg" "$steps") | tee -a "$OUT"
  (cd bench/train && "$PY" peer_trl.py "$cfg" "$steps" 2>/dev/null | tail -1) | tee -a "$OUT"
  "$BIN" "$cfg" "$steps" cached | tee -a "$OUT"
  "$BIN" "$cfg" "$steps" live ckpt | tee -a "$OUT"
done
"$PY" - "$OUT" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def flops(r):
    # matmul FLOPs of one step: policy fwd+bwd (6 N T) + reference fwd (2 N T) for the live
    # reference, attention 4·L·T²·d per sequence forward (x3 with backward).
    cfgs = {"tiny": (4, 256, 8000, False), "smollm": (30, 576, 49152, True)}
    L, d, v, tied = cfgs[r["config"]]
    n_matmul = r["params"] - (0 if tied else v * d)  # embedding lookup is no matmul; lm_head is
    T = 2 * r["pairs"] * r["seq_len"]
    attn = 4 * L * r["seq_len"] ** 2 * d * 2 * r["pairs"]
    live = "cached" not in r["impl"]
    return (6 + 2 * live) * n_matmul * T + (3 + live) * attn
print("\n| config | implementation | step (s, median) | vs PyTorch | peak RSS (MB) | vs PyTorch | tokens/s | % of matmul FLOP/s |")
print("|---|---|---|---|---|---|---|---|")
for cfg in ["tiny", "smollm"]:
    rs = [r for r in rows if r["config"] == cfg]
    base = next((r for r in rs if r["impl"].startswith("pytorch")), None)
    for r in rs:
        f = flops(r) / r["step_s_median"] / 1e9 / r["matmul_gflops"] * 100
        rel_t = r["step_s_median"] / base["step_s_median"] if base else float("nan")
        rel_m = r["peak_rss_mb"] / base["peak_rss_mb"] if base else float("nan")
        print(f"| {cfg} | {r['impl']} | {r['step_s_median']:.3f} | {rel_t:.2f}x | {r['peak_rss_mb']:.0f} | {rel_m:.2f}x | {r['tokens_per_s']:.0f} | {f:.0f}% |")
PYEOF
rm -f "$OUT"
