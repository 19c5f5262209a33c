#!/usr/bin/env bash
# DPO against PPO on the same preference data (seed 18, Xu et al. 2024): the gold-labelled
# pairs of bench/train/overopt_run.sh (the distinct-word sentiment list as gold); DPO on the
# pairs, PPO against a reward model of ours trained on the same pairs; each final policy
# scored on 64 held-out openings × 4 samples: gold, proxy, KL to the start.
#
#   bench/train/dpo_vs_ppo.sh [OUT_DIR]        (default runs/dpo_vs_ppo; ~4 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/dpo_vs_ppo}
M=${PREFER_MODEL:-../shared/models/stories260K}
export CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1
cargo build --release -q -p prefer-cli
P=${CARGO_TARGET_DIR:-target}/release/prefer
rm -rf "$OUT" && mkdir -p "$OUT"
$P train rule-pairs --model "$M" --out "$OUT/pairs.jsonl" --prompts 192 --samples 4 \
  --max-new-tokens 48 --seed 1 --rule sentiment-distinct
$P train reward --model lm --backbone "$M" --train "$OUT/pairs.jsonl" --out "$OUT/rm" | tail -1
python3 -c 'import json,sys
seen=set()
for l in open(sys.argv[1]):
    p=json.loads(l)["prompt"]
    if p not in seen: seen.add(p); print(json.dumps({"prompt": p}))' "$OUT/pairs.jsonl" > "$OUT/prompts.jsonl"
dpo=(--model "$M" --train "$OUT/pairs.jsonl" --epochs 4 --batch-size 8 --set schedule.warmup_ratio=0.1 --quiet)
$P train dpo "${dpo[@]}" --lr 1e-4 --out "$OUT/dpo_lr1e-4" --beta 0.1
$P train dpo "${dpo[@]}" --lr 1e-3 --out "$OUT/dpo_lr1e-3" --beta 0.1
ppo() { # name kl_coef
  cat > "$OUT/$1.toml" <<TOML
[model]
path = "$M"
[data]
train = "$OUT/prompts.jsonl"
[objective]
method = "ppo"
num_ppo_epochs = 2
max_completion_length = 48
temperature = 1.0
kl_coef = $2
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
max_steps = 60
TOML
  $P train ppo --config "$OUT/$1.toml" --quiet
}
ppo ppo_kl0.05 0.05
ppo ppo_kl0.01 0.01
$P train rule-eval --base "$M" --prompts 64 --offset 200 --samples 4 --max-new-tokens 48 --seed 7 \
  --rule sentiment-distinct --reward-model "$OUT/rm" \
  --policy "$OUT/dpo_lr1e-4/checkpoint-92" --policy "$OUT/dpo_lr1e-3/checkpoint-92" \
  --policy "$OUT/ppo_kl0.05/checkpoint-60" --policy "$OUT/ppo_kl0.01/checkpoint-60" \
  --json "$OUT/eval.json"
