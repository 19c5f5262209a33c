"""Benchmark: iterations/s of `prefer game bench` against the numpy peer, in the same run.

    python bench/game/run.py [--n 1000] [--iterations 300] [--rounds 5] [--threads 1]

Runs the Rust binary (target/release/prefer, build it first with
`cargo build --release -p prefer-cli`) and bench/game/numpy_peer.py alternately, --rounds
times, with the same thread count for both (RAYON/OpenBLAS/OMP), and prints the median of
each side's per-round figures and their ratio as a Markdown table.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(cmd, threads):
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[k] = str(threads)
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return {r["method"]: r["per_second"] for r in json.loads(out)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prefer", default=os.path.join(ROOT, "target", "release", "prefer"))
    a = ap.parse_args()
    common = ["--n", str(a.n), "--iterations", str(a.iterations), "--repeats", str(a.repeats)]
    rust_cmd = [a.prefer, "game", "bench", "--json", "--threads", str(a.threads)] + common
    py_cmd = [sys.executable, os.path.join(HERE, "numpy_peer.py")] + common
    rust, py = {}, {}
    for _ in range(a.rounds):
        for k, v in run(rust_cmd, a.threads).items():
            rust.setdefault(k, []).append(v)
        for k, v in run(py_cmd, a.threads).items():
            py.setdefault(k, []).append(v)
    import numpy

    print(f"n = {a.n}, {a.iterations} iterations x best of {a.repeats}, median of {a.rounds} rounds, "
          f"{a.threads} thread(s); numpy {numpy.__version__}, Python {platform.python_version()}")
    print()
    print("| update | prefer (it/s) | numpy (it/s) | speed-up |")
    print("|---|---|---|---|")
    for k in rust:
        r, p = statistics.median(rust[k]), statistics.median(py[k])
        print(f"| {k} | {r:,.0f} | {p:,.0f} | {r / p:.2f}x |")


if __name__ == "__main__":
    main()
