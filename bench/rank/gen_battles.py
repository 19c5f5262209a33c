#!/usr/bin/env python3
"""Synthetic Chatbot Arena battles for benchmarks: N battles among 100 models.

Usage: gen_battles.py N OUT.jsonl [--models 100] [--seed 7]

Zipf-like popularity (weight 1/rank^1.0 over a shuffled order), hidden ratings
~ Normal(1000, 150), 10% ties (7% "tie", 3% "tie (bothbad)"), otherwise BT with
BASE 10 / SCALE 400. Records {"model_a","model_b","winner","tstamp"} in time order.
Written in chunks, so memory stays small for N = 1e6.
"""
import argparse
import json
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    k = args.models
    names = np.array([f"model-{i:03d}" for i in range(k)])
    ratings = rng.normal(1000.0, 150.0, size=k)
    pop = np.empty(k)
    pop[rng.permutation(k)] = 1.0 / np.arange(1, k + 1)
    pop /= pop.sum()

    tstamp = 1_700_000_000.0
    chunk = 100_000
    done = 0
    with open(args.out, "w") as f:
        while done < args.n:
            m = min(chunk, args.n - done)
            a = rng.choice(k, size=m, p=pop)
            b = rng.choice(k, size=m, p=pop)
            same = a == b
            while same.any():  # redraw b where it equals a
                b[same] = rng.choice(k, size=int(same.sum()), p=pop)
                same = a == b
            u = rng.random(m)
            p_a = 1.0 / (1.0 + 10.0 ** ((ratings[b] - ratings[a]) / 400.0))
            win_a = rng.random(m) < p_a
            winner = np.where(win_a, "model_a", "model_b").astype(object)
            winner[u < 0.10] = "tie (bothbad)"
            winner[u < 0.07] = "tie"
            ts = tstamp + np.cumsum(rng.exponential(1.0, size=m))
            tstamp = float(ts[-1])
            lines = [
                json.dumps({"model_a": names[i], "model_b": names[j], "winner": w,
                            "tstamp": round(float(t), 3)})
                for i, j, w, t in zip(a, b, winner, ts)
            ]
            f.write("\n".join(lines) + "\n")
            done += m
    print(f"wrote {args.n} battles among {k} models to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
