#!/bin/sh
# The benchmark on a quiet machine: bench/out/game holds a stripped `prefer` binary and,
# when the machine's Python lacks numpy, a numpy wheel tree for CPython 3.11.
set -e
cd "$(dirname "$0")/../out/game"
nproc; lscpu | grep -E "Model name|L3" || true; python3 -V || true
if ! python3 -c "import numpy" 2>/dev/null; then
  mkdir -p py && tar xJf numpy-cp311.tar.xz -C py && export PYTHONPATH="$PWD/py"
fi
python3 -c "import numpy; print('numpy', numpy.__version__)"
OUTDIR="${OUT:-/tmp}"
for t in 1 2 4 8; do
  python3 ../../game/run.py --prefer ./prefer --threads $t --rounds 5 | tee "$OUTDIR/bench_t$t.md"
done
