#!/bin/sh
# The benchmark on a quiet machine: bench/out/game holds a stripped `prefer` binary and,
# when the machine's Python lacks numpy, a numpy wheel tree for CPython 3.11. Prepare it with
#   cargo build --release -p prefer-cli && mkdir -p bench/out/game
#   strip -o bench/out/game/prefer target/release/prefer
#   (cd $PREFER_REFVENV/lib/python3.11/site-packages && tar --exclude='numpy/*/tests' \
#     -cJf "$OLDPWD/bench/out/game/numpy-cp311.tar.xz" numpy numpy.libs numpy-*.dist-info)
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
