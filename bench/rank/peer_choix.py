#!/usr/bin/env python3
"""choix peer: Bradley-Terry on aggregated pair counts of a Chatbot Arena JSONL file.

Usage: peer_choix.py FILE [--max-iter 100] [--tol 1e-8] [--anchor MODEL=RATING]

Builds the dense count matrix C[i, j] = wins of i over j, a tie adding 0.5 each way
("tie" and "tie (bothbad)", as in FastChat), then choix.ilsr_pairwise_dense(C)
(iterative Luce spectral ranking, which converges to the BT maximum-likelihood
estimate; alpha = 0, no regularization). choix returns centred log-strengths theta;
R = 400/ln(10) * theta, shifted so the mean over models is 1000 (FastChat's gauge when
no anchor model is present) or so that --anchor MODEL gets RATING.
Timings per phase (read, aggregate, fit) and the top ratings go to stderr; JSON to stdout.
"""
import argparse
import json
import math
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--anchor", default=None, help="MODEL=RATING")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()

    t = {}
    t0 = time.perf_counter()
    import choix
    import numpy as np
    import pandas as pd
    t["import"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    battles = pd.read_json(args.file, lines=True)
    t["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    codes, models = pd.factorize(pd.concat([battles["model_a"], battles["model_b"]]))
    n = len(battles)
    a, b = codes[:n], codes[n:]
    w = battles["winner"].to_numpy()
    k = len(models)
    C = np.zeros((k, k))
    win_a, win_b = w == "model_a", w == "model_b"
    tie = (w == "tie") | (w == "tie (bothbad)")
    if not (win_a | win_b | tie).all():
        i = int(np.flatnonzero(~(win_a | win_b | tie))[0])
        raise SystemExit(f"{args.file}: record {i + 1}: unexpected winner {w[i]!r}")
    np.add.at(C, (a[win_a], b[win_a]), 1.0)
    np.add.at(C, (b[win_b], a[win_b]), 1.0)
    np.add.at(C, (a[tie], b[tie]), 0.5)
    np.add.at(C, (b[tie], a[tie]), 0.5)
    t["aggregate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    theta = choix.ilsr_pairwise_dense(C, alpha=0.0, max_iter=args.max_iter, tol=args.tol)
    t["fit"] = time.perf_counter() - t0

    r = 400.0 / math.log(10.0) * theta
    if args.anchor:
        name, val = args.anchor.rsplit("=", 1)
        r += float(val) - r[list(models).index(name)]
    else:
        r += 1000.0 - r.mean()
    ratings = {str(m): float(v) for m, v in zip(models, r)}

    print(f"choix {getattr(choix, '__version__', '')} ilsr_pairwise_dense n={n} models={k}",
          file=sys.stderr)
    for name, v in sorted(ratings.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {name:24s} {v:10.3f}", file=sys.stderr)
    print("timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()), file=sys.stderr)
    json.dump({"peer": "choix", "n": n, "ratings": ratings, "timings_s": t}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
