#!/usr/bin/env bash
# The online runs of docs/training.md: stories260K learns, from its own samples scored by
# the sentiment word list, with GRPO (TRL's loss_type "grpo"), DAPO (the default loss with
# clip-higher), GSPO with a KL term, RLOO, REINFORCE++-baseline and PPO; each then scored on 64 held-out prompts
# (4 samples each) against the starting model: the rule's mean, the win rate, the KL.
#
#   bench/train/online_run.sh [OUT_DIR]        (default runs/online; ~3 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/online}
M=${PREFER_MODEL:-../shared/models/stories260K}
STEPS=${STEPS:-30}
export CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1
cargo build --release -q -p prefer-cli
P=${CARGO_TARGET_DIR:-target}/release/prefer
rm -rf "$OUT" && mkdir -p "$OUT"
# The training prompts of real run (a): story openings 0..192 (held-out ones start at 200).
$P train rule-pairs --model "$M" --out "$OUT/pairs.jsonl" --prompts 192 --samples 2 --max-new-tokens 4 --seed 1 >/dev/null
python3 -c 'import json,sys
seen=set()
for l in open(sys.argv[1]):
    p=json.loads(l)["prompt"]
    if p not in seen: seen.add(p); print(json.dumps({"prompt": p}))' "$OUT/pairs.jsonl" > "$OUT/prompts.jsonl"
common=(--model "$M" --prompts "$OUT/prompts.jsonl" --reward lexicon --lr 1e-3 --steps "$STEPS"
        --batch-size 16 --set objective.max_completion_length=48 --quiet)
$P train grpo "${common[@]}" --out "$OUT/grpo" --loss-type grpo
$P train grpo "${common[@]}" --out "$OUT/dapo" --set objective.epsilon_high=0.28
$P train grpo "${common[@]}" --out "$OUT/gspo_kl" --loss-type grpo --beta 0.04 \
  --set objective.importance_sampling_level='"sequence"'
$P train rloo "${common[@]}" --out "$OUT/rloo" --set objective.num_generations=4
$P train reinforce-pp "${common[@]}" --out "$OUT/rpp" --set objective.num_generations=4 --set objective.baseline=true
$P train ppo "${common[@]}" --out "$OUT/ppo" --set objective.num_ppo_epochs=2 --set objective.temperature=1.0
$P train rule-eval --base "$M" --prompts 64 --offset 200 --samples 4 --max-new-tokens 48 --seed 7 \
  --policy "$OUT/grpo/checkpoint-$STEPS" --policy "$OUT/dapo/checkpoint-$STEPS" \
  --policy "$OUT/gspo_kl/checkpoint-$STEPS" --policy "$OUT/rloo/checkpoint-$STEPS" \
  --policy "$OUT/rpp/checkpoint-$STEPS" --policy "$OUT/ppo/checkpoint-$STEPS" --json "$OUT/rule_eval.json"
M_ALL=("$OUT/grpo/metrics.jsonl" "$OUT/dapo/metrics.jsonl" "$OUT/gspo_kl/metrics.jsonl" "$OUT/rloo/metrics.jsonl" "$OUT/rpp/metrics.jsonl" "$OUT/ppo/metrics.jsonl")
$P plot "${M_ALL[@]}" --keys reward --title "lexicon reward per step (stories260K)" --out "$OUT/online_reward.png"
$P plot "$OUT/gspo_kl/metrics.jsonl" "$OUT/rloo/metrics.jsonl" "$OUT/rpp/metrics.jsonl" --keys kl \
  --title "kl per step (stories260K)" --out "$OUT/online_kl.png"
