#!/usr/bin/env python3
"""Hugging Face datasets peer: load_dataset("json") and iterate, with phase timings.

Usage: peer_datasets.py IN.jsonl [--batch-size 1000] [--keep-cache]

Phases:
  load        datasets.load_dataset("json", data_files=IN, split="train",
              cache_dir=<fresh dir under /tmp>): parses the JSONL and writes the Arrow cache
  iter_rows   for row in ds: touch prompt/chosen/rejected (sum of string lengths)
  iter_batch  for batch in ds.iter(batch_size): same, column-wise
The cache dir is removed afterwards unless --keep-cache. Runs offline (HF_HUB_OFFLINE=1).
Timings go to stderr; one JSON object to stdout.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--keep-cache", action="store_true")
    args = ap.parse_args()

    t = {}
    t0 = time.perf_counter()
    import datasets
    datasets.disable_progress_bars()
    t["import"] = time.perf_counter() - t0

    cache = tempfile.mkdtemp(prefix="peer_datasets_", dir="/tmp")
    try:
        t0 = time.perf_counter()
        ds = datasets.load_dataset("json", data_files=os.path.abspath(args.inp),
                                   split="train", cache_dir=cache)
        t["load"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        total = 0
        for row in ds:
            total += len(row["prompt"]) + len(row["chosen"]) + len(row["rejected"])
        t["iter_rows"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        total_b = 0
        for batch in ds.iter(batch_size=args.batch_size):
            for col in ("prompt", "chosen", "rejected"):
                total_b += sum(map(len, batch[col]))
        t["iter_batch"] = time.perf_counter() - t0
        if total != total_b:
            raise SystemExit("row and batch iteration disagree")
    finally:
        if not args.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)

    print(f"datasets {datasets.__version__}: rows={len(ds)} chars={total} "
          f"cache={cache}{'' if args.keep_cache else ' (removed)'}", file=sys.stderr)
    print("timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()), file=sys.stderr)
    json.dump({"peer": "datasets", "rows": len(ds), "timings_s": t}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
