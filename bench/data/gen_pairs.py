#!/usr/bin/env python3
"""Synthetic TRL-style preference pairs for data-pipeline benchmarks.

Usage: gen_pairs.py N OUT.jsonl [--seed 11]

Each line: {"prompt": str, "chosen": str, "rejected": str, "id": "pair-0000000"}.
prompt ~15 words (10-20), chosen and rejected 20-80 words each (uniform), words drawn
with Zipf-like frequencies from a 5,000-word pseudo-vocabulary; sentences end with ". ",
prompts end with "?". About 0.75 KB a record (1e6 records ~ 0.75 GB). Written in
chunks of 50,000 records so memory stays small.
"""
import argparse
import json
import sys

import numpy as np

SYLLABLES = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "da", "pe", "qu", "zo",
             "ba", "fi", "gu", "ho", "je", "ly", "wa", "xe", "an", "or", "el", "is"]


def vocabulary(rng, size=5000):
    words = set()
    while len(words) < size:
        n = rng.integers(1, 4)
        words.add("".join(rng.choice(SYLLABLES, size=n)))
    words = sorted(words)
    rng.shuffle(words)
    return np.array(words, dtype=object)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    vocab = vocabulary(rng)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.1
    p /= p.sum()

    def text(n_words, end):
        w = vocab[rng.choice(len(vocab), size=n_words, p=p)]
        s = " ".join(w)
        return s[0].upper() + s[1:] + end

    chunk = 50_000
    done = 0
    with open(args.out, "w") as f:
        while done < args.n:
            m = min(chunk, args.n - done)
            lp = rng.integers(10, 21, size=m)
            lc = rng.integers(20, 81, size=m)
            lr = rng.integers(20, 81, size=m)
            lines = []
            for i in range(m):
                rec = {"prompt": text(lp[i], "?"), "chosen": text(lc[i], "."),
                       "rejected": text(lr[i], "."), "id": f"pair-{done + i:07d}"}
                lines.append(json.dumps(rec))
            f.write("\n".join(lines) + "\n")
            done += m
    print(f"wrote {args.n} pairs to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
