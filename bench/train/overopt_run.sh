#!/usr/bin/env bash
# Reward overoptimization (seed 52, Gao et al. 2023) at stories260K scale, with a gold
# reward anyone can recompute: the sentiment word list counting each distinct word once.
#   1. pairs: 4 samples per story opening from stories260K, best vs worst by the gold;
#   2. proxy: a causal-LM reward model of ours trained on those pairs;
#   3. GRPO against the proxy (β = 0.001, and β = 0.04 for comparison), the gold scored
#      beside it every step (`[[objective.gold]]`, never trained on);
#   4. every 5th checkpoint scored on 64 held-out openings × 4 samples: gold, proxy, KL to
#      the starting model (`prefer train rule-eval --reward-model`).
#
#   bench/train/overopt_run.sh [OUT_DIR]        (default runs/overopt; ~3 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/overopt}
M=${PREFER_MODEL:-../shared/models/stories260K}
STEPS=${STEPS:-60}
export CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1
cargo build --release -q -p prefer-cli
P=${CARGO_TARGET_DIR:-target}/release/prefer
rm -rf "$OUT" && mkdir -p "$OUT"
$P train rule-pairs --model "$M" --out "$OUT/pairs.jsonl" --prompts 192 --samples 4 \
  --max-new-tokens 48 --seed 1 --rule sentiment-distinct
$P train reward --model lm --backbone "$M" --train "$OUT/pairs.jsonl" --out "$OUT/rm" | tail -3
python3 -c 'import json,sys
seen=set()
for l in open(sys.argv[1]):
    p=json.loads(l)["prompt"]
    if p not in seen: seen.add(p); print(json.dumps({"prompt": p}))' "$OUT/pairs.jsonl" > "$OUT/prompts.jsonl"
run() { # name beta
  cat > "$OUT/$1.toml" <<TOML
[model]
path = "$M"
[data]
train = "$OUT/prompts.jsonl"
[objective]
method = "grpo"
num_generations = 8
max_completion_length = 48
beta = $2
[[objective.reward]]
type = "reward_model"
path = "$OUT/rm"
[[objective.gold]]
type = "lexicon"
distinct = true
[optim]
lr = 1e-3
[run]
out_dir = "$OUT/$1"
batch_size = 16
max_steps = $STEPS
save_every = 5
save_total_limit = 0
TOML
  $P train grpo --config "$OUT/$1.toml" --quiet
  local ck=()
  for s in $(seq 5 5 "$STEPS"); do ck+=(--policy "$OUT/$1/checkpoint-$s"); done
  $P train rule-eval --base "$M" "${ck[@]}" --prompts 64 --offset 200 --samples 4 \
    --max-new-tokens 48 --seed 7 --rule sentiment-distinct --reward-model "$OUT/rm" \
    --json "$OUT/$1/eval.json"
  python3 -c 'import json,sys,re
d=json.load(open(sys.argv[1]))
for k,v in d.items():
    print(json.dumps({"step": int(re.search(r"checkpoint-(\d+)", k).group(1)), "kl": v["kl"],
                      "gold": v["score"], "proxy": v["proxy"], "base_gold": v["base_score"],
                      "base_proxy": v["base_proxy"]}))' "$OUT/$1/eval.json" > "$OUT/$1/eval.jsonl"
}
run beta0.001 0.001
run beta0.04 0.04
$P plot "$OUT/beta0.001/metrics.jsonl" --keys reward,gold \
  --title "proxy (reward model) and gold per step, GRPO on the proxy" --out "$OUT/overopt_steps.png"
$P plot "$OUT/beta0.001/eval.jsonl" "$OUT/beta0.04/eval.jsonl" --x kl --keys proxy,gold \
  --title "held-out proxy and gold against KL to the start (nats)" --out "$OUT/overopt_kl.png"
