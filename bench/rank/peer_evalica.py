#!/usr/bin/env python3
"""evalica peer: Bradley-Terry (MM algorithm, Rust core) on a Chatbot Arena JSONL file.

Usage: peer_evalica.py FILE [--limit 100] [--tolerance 1e-6] [--anchor MODEL=RATING]

Ties ("tie", "tie (bothbad)") are Winner.Draw with tie_weight 0.5, i.e. half a win each
way, as in FastChat. Scores are converted to the Elo scale,
R = 400/ln(10) * ln(score), then shifted so the mean over models is 1000 (FastChat's
gauge when no anchor model is present) or so that --anchor MODEL gets RATING.
Defaults (limit 100, tolerance 1e-6) are evalica's; the iterations used are printed.
Timings per phase and the top ratings go to stderr; one JSON object to stdout.
"""
import argparse
import json
import math
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--tolerance", type=float, default=1e-6)
    ap.add_argument("--anchor", default=None, help="MODEL=RATING")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()

    t = {}
    t0 = time.perf_counter()
    import evalica
    import numpy as np
    import pandas as pd
    t["import"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    battles = pd.read_json(args.file, lines=True)
    t["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    to_winner = {"model_a": evalica.Winner.X, "model_b": evalica.Winner.Y,
                 "tie": evalica.Winner.Draw, "tie (bothbad)": evalica.Winner.Draw}
    w = battles["winner"].map(to_winner)
    if w.isna().any():
        i = int(np.flatnonzero(w.isna().to_numpy())[0])
        raise SystemExit(f"{args.file}: record {i + 1}: unexpected winner "
                         f"{battles['winner'].iloc[i]!r}")
    winners = w.tolist()  # evalica's Rust core wants a list of Winner, not an ndarray
    t["prep"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    res = evalica.bradley_terry(battles["model_a"], battles["model_b"], winners,
                                tie_weight=0.5, limit=args.limit, tolerance=args.tolerance)
    t["fit"] = time.perf_counter() - t0

    scores = res.scores
    r = 400.0 / math.log(10.0) * np.log(scores.to_numpy())
    if args.anchor:
        name, val = args.anchor.rsplit("=", 1)
        r += float(val) - r[list(scores.index).index(name)]
    else:
        r += 1000.0 - r.mean()
    ratings = {str(k): float(v) for k, v in zip(scores.index, r)}

    print(f"evalica {evalica.__version__ if hasattr(evalica, '__version__') else ''} "
          f"bradley_terry n={len(battles)} models={len(ratings)} "
          f"iterations={res.iterations}/{res.limit} solver={res.solver}", file=sys.stderr)
    for name, v in sorted(ratings.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {name:24s} {v:10.3f}", file=sys.stderr)
    print("timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()), file=sys.stderr)
    json.dump({"peer": "evalica", "n": len(battles), "iterations": int(res.iterations),
               "ratings": ratings, "timings_s": t}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
