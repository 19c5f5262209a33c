#!/usr/bin/env python3
"""FastChat peer: its own rating code on a Chatbot Arena JSONL file.

Usage:
  peer_fastchat.py FILE --mode fit|bootstrap|full|elo [--rounds 100] [--num-cpu 1]
                   [--impl current|legacy] [--fastchat-src DIR] [--legacy-src DIR]

--impl current (default): fastchat/serve/monitor/rating_systems.py at FastChat HEAD
  (0e6d3e4, 2025-04): fit = compute_bt (unregularized BT, scipy L-BFGS-B, tol 1e-6),
  bootstrap = compute_bootstrap_bt (multinomial reweighting of unique outcomes, seed 0,
  multiprocessing.Pool(num_cpu); FastChat's default is os.cpu_count(), here --num-cpu, 1),
  elo = compute_elo (online, K=4, tstamp order); full = fit then bootstrap (a whole
  leaderboard run: point estimate and intervals).
--impl legacy: elo_analysis.py of FastChat 5095615 (2024-04), the notebook-era code:
  fit = compute_elo_mle_with_tie (pivot-table counts + sklearn LogisticRegression,
  penalty=None), bootstrap = get_bootstrap_result(battles, compute_elo_mle_with_tie, N)
  (pandas resampling of all battles each round), elo = compute_elo (itertuples loop).

Reading is pd.read_json(FILE, lines=True) then sort by tstamp, as FastChat's
report_elo_analysis_results does. Timings per phase and the top ratings go to stderr;
one JSON object (ratings, timings) goes to stdout.
"""
import argparse
import json
import os
import sys
import time
import warnings

sys.dont_write_bytecode = True  # no bench/rank/__pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastchat_loader  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--mode", choices=["fit", "bootstrap", "full", "elo"], default="fit")
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--num-cpu", type=int, default=1)
    ap.add_argument("--impl", choices=["current", "legacy"], default="current")
    ap.add_argument("--fastchat-src", default=fastchat_loader.DEFAULT_SRC)
    ap.add_argument("--legacy-src", default=os.path.join(os.environ.get("PREFER_REFVENV", "../refvenv"), "fastchat-src", "50956158"))
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()

    t = {}
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd
    if args.impl == "current":
        rs = fastchat_loader.rating_systems(args.fastchat_src)
        src = args.fastchat_src
    else:
        warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.8+: penalty=None
        src = args.legacy_src
        fa = fastchat_loader.functions(
            os.path.join(src, "fastchat/serve/monitor/elo_analysis.py"),
            ["compute_elo", "compute_elo_mle_with_tie", "get_bootstrap_result"])
    t["import"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    battles = pd.read_json(args.file, lines=True)
    t["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    battles = battles.sort_values(ascending=True, by=["tstamp"]).reset_index(drop=True)
    t["sort"] = time.perf_counter() - t0

    out = {"peer": "fastchat", "impl": args.impl, "fastchat": fastchat_loader.commit(src),
           "mode": args.mode, "n": len(battles)}
    t0 = time.perf_counter()
    if args.mode == "fit":
        if args.impl == "current":
            ratings = rs.compute_bt(battles)
        else:
            ratings = fa["compute_elo_mle_with_tie"](battles)
        ratings = {k: float(v) for k, v in ratings.items()}
        t["fit"] = time.perf_counter() - t0
    elif args.mode == "elo":
        if args.impl == "current":
            ratings = rs.compute_elo(battles)
        else:
            ratings = fa["compute_elo"](battles)
        ratings = {k: float(v) for k, v in ratings.items()}
        t["fit"] = time.perf_counter() - t0
    else:
        if args.mode == "full":
            # What a leaderboard run does: the point estimate, then the intervals.
            if args.impl == "current":
                point = rs.compute_bt(battles)
            else:
                point = fa["compute_elo_mle_with_tie"](battles)
            out["point"] = {k: float(v) for k, v in point.items()}
            t["fit"] = time.perf_counter() - t0
            t0 = time.perf_counter()
        if args.impl == "current":
            boot = rs.compute_bootstrap_bt(battles, num_round=args.rounds,
                                           num_cpu=args.num_cpu)
        else:
            np.random.seed(0)  # pandas .sample draws from numpy's global state
            boot = fa["get_bootstrap_result"](battles, fa["compute_elo_mle_with_tie"],
                                              args.rounds)
        t["bootstrap"] = time.perf_counter() - t0
        med = boot.quantile(0.5)
        ratings = {k: float(v) for k, v in med.items()}
        out["q025"] = {k: float(v) for k, v in boot.quantile(0.025).items()}
        out["q975"] = {k: float(v) for k, v in boot.quantile(0.975).items()}
        out["rounds"] = args.rounds

    out["ratings"] = ratings
    out["timings_s"] = t
    top = sorted(ratings.items(), key=lambda kv: -kv[1])[: args.top]
    print(f"fastchat[{args.impl}] {args.mode} n={len(battles)} models={len(ratings)}",
          file=sys.stderr)
    for name, r in top:
        extra = ""
        if "q025" in out:
            extra = f"  [{out['q025'][name]:.2f}, {out['q975'][name]:.2f}]"
        print(f"  {name:24s} {r:10.3f}{extra}", file=sys.stderr)
    print("timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()), file=sys.stderr)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
