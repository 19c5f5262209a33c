#!/usr/bin/env bash
# Real run (a) of docs/training.md: stories260K learns happier stories from its own
# samples, judged by the sentiment word list; DPO, IPO, SimPO and KTO from the same pairs;
# each scored on 64 held-out prompts (4 samples each) against the starting model.
#
#   bench/train/rule_run.sh [OUT_DIR]          (default runs/rule; ~3 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/rule}
M=${PREFER_MODEL:-../shared/models/stories260K}
export CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1
cargo build --release -q -p prefer-cli
P=${CARGO_TARGET_DIR:-target}/release/prefer
rm -rf "$OUT" && mkdir -p "$OUT"
# 192 training prompts x 4 samples of 64 tokens; best vs worst by the rule.
$P train rule-pairs --model "$M" --out "$OUT/pairs.jsonl" --prompts 192 --samples 4 --max-new-tokens 64 --seed 1
common=(--model "$M" --train "$OUT/pairs.jsonl" --lr 1e-4 --epochs 4 --batch-size 8 --set schedule.warmup_ratio=0.1 --quiet)
$P train dpo "${common[@]}" --out "$OUT/dpo"   --loss '{"type": "sigmoid", "beta": 0.1}'
$P train dpo "${common[@]}" --out "$OUT/ipo"   --loss '{"type": "ipo", "tau": 0.5}'
$P train dpo "${common[@]}" --out "$OUT/simpo" --loss '{"type": "simpo", "beta": 2.0, "gamma": 1.0}'
$P train kto "${common[@]}" --out "$OUT/kto"   --loss '{"type": "kto", "beta": 0.1}'
# PRO on the ranked lists of the same samples (all 4, by score; reward-gap temperature from the scores).
$P train rule-pairs --ranking --model "$M" --out "$OUT/rankings.jsonl" --prompts 192 --samples 4 --max-new-tokens 64 --seed 1
$P train pro --model "$M" --train "$OUT/rankings.jsonl" --lr 1e-4 --epochs 4 --batch-size 8 --set schedule.warmup_ratio=0.1 --quiet --out "$OUT/pro"
# Held-out prompts start at 200 (the training prompts are 0..192).
$P train rule-eval --base "$M" --prompts 64 --offset 200 --samples 4 --max-new-tokens 64 --seed 7 \
  --policy "$OUT/dpo/checkpoint-96" --policy "$OUT/ipo/checkpoint-96" \
  --policy "$OUT/simpo/checkpoint-96" --policy "$OUT/kto/checkpoint-192" --policy "$OUT/pro/checkpoint-96" --json "$OUT/rule_eval.json"
$P plot "$OUT/dpo/metrics.jsonl" "$OUT/ipo/metrics.jsonl" "$OUT/simpo/metrics.jsonl" --keys rewards/accuracies --out "$OUT/accuracies.png"
