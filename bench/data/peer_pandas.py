#!/usr/bin/env python3
"""pandas peer: JSONL -> DataFrame -> Parquet -> DataFrame, with phase timings.

Usage: peer_pandas.py IN.jsonl OUT.parquet [--compression snappy]

Phases: read_json(lines=True), to_parquet (pyarrow engine, compression as given,
pandas' default snappy), read_parquet. pandas >= 3 stores strings as its Arrow-backed
"str" dtype by default. Timings, row count and the Parquet size go to stderr; one JSON
object to stdout.
"""
import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--compression", default="snappy")
    args = ap.parse_args()

    t = {}
    t0 = time.perf_counter()
    import pandas as pd
    import pyarrow
    t["import"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    df = pd.read_json(args.inp, lines=True)
    t["read_json"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    df.to_parquet(args.out, engine="pyarrow", compression=args.compression, index=False)
    t["to_parquet"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    back = pd.read_parquet(args.out, engine="pyarrow")
    t["read_parquet"] = time.perf_counter() - t0

    if len(back) != len(df) or list(back.columns) != list(df.columns):
        raise SystemExit("round trip changed the table")
    size = os.path.getsize(args.out)
    print(f"pandas {pd.__version__} pyarrow {pyarrow.__version__}: rows={len(df)} "
          f"columns={list(df.columns)} parquet={size / 1e6:.1f} MB", file=sys.stderr)
    print("timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()), file=sys.stderr)
    json.dump({"peer": "pandas", "rows": len(df), "parquet_bytes": size, "timings_s": t},
              sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
