#!/usr/bin/env python3
"""Peer of `prefer eval embed`: sentence-transformers (PyTorch) encodes the same texts.

Reads the texts prefer embedded (`prefer eval embed --dump-texts texts.jsonl`, one JSON
string per line), encodes them with all-MiniLM-L6-v2 at the given batch size and thread
count, and prints the throughput (and a JSON line on stdout).

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE $PREFER_REFVENV/bin/python bench/eval/peer_embed.py \
        --texts texts.jsonl --model ~/.cache/prefer/models/all-MiniLM-L6-v2 --threads 1
"""

import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=32, help="texts encoded once before timing")
    args = ap.parse_args()
    t_import = time.perf_counter()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    texts = [json.loads(l) for l in open(args.texts) if l.strip()]
    model = SentenceTransformer(args.model, device="cpu")
    t_load = time.perf_counter()
    model.encode(texts[: args.warmup], batch_size=args.batch_size)
    t0 = time.perf_counter()
    emb = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
    dt = time.perf_counter() - t0
    tokens = sum(min(len(model.tokenizer(t.strip())["input_ids"]), model.max_seq_length) for t in texts)
    print(
        f"  {len(texts)} texts ({tokens} tokens), {dt:.2f} s: {len(texts) / dt:.1f} sentences/s, "
        f"{tokens / dt:.0f} tokens/s [sentence-transformers, torch {torch.__version__}, "
        f"{args.threads} thread(s); import+load {t_load - t_import:.1f} s]",
        file=sys.stderr,
    )
    print(json.dumps({"texts": len(texts), "seconds": dt, "sentences_per_s": len(texts) / dt, "dim": emb.shape[1]}))


if __name__ == "__main__":
    main()
