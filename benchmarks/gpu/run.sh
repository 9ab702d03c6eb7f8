#!/usr/bin/env bash
# The GPU check of benchmarks/README.md ("Backends and GPU"), run on a lent GPU machine that has
# JAX but no TensorFlow. Prepare, on this machine, a git-ignored folder .gpu/ holding:
#   - the wheels the GPU image lacks, for its Python 3.12: keras namex optree pydantic
#     pydantic-core pydantic-settings annotated-types typing-inspection python-dotenv
#     (pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .gpu NAME==VERSION);
#   - tubingen.jpg and starry_night.jpg from ../shared/images;
#   - vgg19_f16.weights.h5: python benchmarks/gpu/cast_weights.py \
#       ../shared/weights/vgg19_notop.weights.h5 .gpu/vgg19_f16.weights.h5 float16
# then run this script there with .gpu carried along. Results land in $OUT (or ./gpu-results).
# One argument, the precision (NST_PRECISION: float32, the default, bfloat16 or auto), e.g.
#   bash benchmarks/gpu/run.sh float32 && bash benchmarks/gpu/run.sh bfloat16
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-results}/${1:-float32}
export NST_PRECISION=${1:-float32}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .gpu/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
python3 benchmarks/gpu/cast_weights.py .gpu/vgg19_f16.weights.h5 /tmp/vgg19.weights.h5 float32
B="python3 benchmarks/backends.py --weights /tmp/vgg19.weights.h5 --images .gpu --steps 20"
$B --sizes 512,1024 --json "$OUT/gpu.json" 2>&1 | tee "$OUT/gpu.log"
# Peak memory a job needs (uncapped, XLA's autotuner fills whatever is free):
XLA_PYTHON_CLIENT_MEM_FRACTION=0.06 $B --sizes 512,1024 --json "$OUT/gpu_capped.json" 2>&1 \
  | tee "$OUT/gpu_capped.log"
