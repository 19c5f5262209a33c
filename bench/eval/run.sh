#!/usr/bin/env bash
# Benchmarks of docs/reward.md, prefer against PyTorch in the same run:
#  1. sentence embedding throughput: prefer's all-MiniLM-L6-v2 forward vs
#     sentence-transformers, the same texts (UltraFeedback prompts and responses), the same
#     thread count, rounds alternated;
#  2. reward-head training epoch time: prefer's BT head vs the same head in PyTorch on the
#     same embeddings.
#
#   bench/eval/run.sh [OUT_DIR] [TEXTS] [ROUNDS]     # defaults bench/out/eval 1000 3
#
# Needs: target/release/prefer (cargo build --release -p prefer-cli), scripts/fetch_minilm.sh,
# $PREFER_REFVENV (bench/setup_venv.sh), ../shared/data/ultrafeedback.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-bench/out/eval}"; N="${2:-1000}"; ROUNDS="${3:-3}"
P=target/release/prefer; PY="${PY:-${PREFER_REFVENV:-../refvenv}/bin/python}"
MODEL="${PREFER_MINILM:-$HOME/.cache/prefer/models/all-MiniLM-L6-v2}"
UF=../shared/data/ultrafeedback
mkdir -p "$OUT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
$P eval embed --data $UF/train_clean.jsonl $UF/eval_clean.jsonl --limit "$N" --dump-texts "$OUT/texts.jsonl" --cache "$OUT/uf-emb.safetensors" >/dev/null
for threads in ${THREADS:-1 2}; do
  for r in $(seq "$ROUNDS"); do
    echo "== embed, $threads thread(s), round $r"
    # prefer: whole batches per thread (--threads), each batch's matmuls on one core.
    CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 \
      $P eval embed --data $UF/train_clean.jsonl $UF/eval_clean.jsonl --limit "$N" --threads $threads | grep -v skipped
    OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE TOKENIZERS_PARALLELISM=false \
      $PY bench/eval/peer_embed.py --texts "$OUT/texts.jsonl" --model "$MODEL" --threads $threads 2>&1 >/dev/null | grep -v '^Loading\|Token indices'
  done
done
echo "== reward head (BT, linear on [e(y), e(x)*e(y)], 30 epochs, batch 64), 1 thread"
for r in $(seq "$ROUNDS"); do
  # (the first round also embeds the ~3,600 texts of the training file into the cache)
  CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 $P train reward --model bt --train $UF/train_clean.jsonl --holdout 0 \
    --cache "$OUT/uf-emb.safetensors" --out "$OUT/head-run" --dump-embeddings "$OUT/head-emb.safetensors" | grep 'ms/epoch'
  OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE $PY bench/eval/peer_head.py --emb "$OUT/head-emb.safetensors" --threads 1 2>&1 >/dev/null
done
