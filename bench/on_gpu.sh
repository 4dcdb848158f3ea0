#!/usr/bin/env bash
# The device checks of a lent GPU machine as one script (docs/benchmarks.md's GPU rows), run
# from the repository root: bash bench/on_gpu.sh. Each step has its own time limit, so a slow
# step costs that step alone; the logs go to $OUT (default: /tmp/gpu-out).
#
# The lent machine has its own python3 and torch but no Ray, Optuna or albumentations, and no
# registry. Carry them as cp312 wheels in .whl/ (ignored by git; the tool's notes say how to
# download them): ray 2.60.0 (without ray/jars, ray/rllib and the dashboard's client build, to
# fit the 64 MiB the tool carries), optuna, albumentations and their pure dependencies, and
# plotly 7.1.0 with narwhals (10 MB together): without them a search trains but its report stage
# fails, and bench/gpu_verdict.py with it.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0
if [ -d .whl ] && [ -z "${NO_WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD  # the repository too: bench/ scripts import the product
fi
PY=${PY:-python3}
START=$SECONDS

step() {  # step NAME SECONDS COMMAND...: one check, its output in $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit ${limit} s, at $((SECONDS - START)) s)"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    tail -n "${TAIL:-25}" "$OUT/$name.log"
    echo "=== $name: rc $rc in $((SECONDS - t0)) s"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  nproc; free -g | sed -n 2p
  $PY -c 'import sys, torch, ray, optuna, albumentations as A
print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "ray", ray.__version__, "optuna", optuna.__version__, "albumentations", A.__version__)'
} 2>&1 | tee "$OUT/machine.txt"

# Within one call of at most 10 minutes: the device check, the throughput per GPU, then the
# search's verdict at the size that fits what is left (the full size, 48 trials x 30 epochs
# and 10 refit seeds, is bench/gpu_verdict.py's default: give VERDICT_ARGS= to run it).
step check "${CHECK_S:-200}" $PY -m nas.check
step gpu_share "${SHARE_S:-120}" $PY bench/gpu_share.py --trials ${SHARE_TRIALS:-1 4 8 16}
step gpu_verdict "${VERDICT_S:-240}" $PY bench/gpu_verdict.py --keep /tmp/gpu-verdict \
    ${VERDICT_ARGS---trials 24 --max-epochs 15 --refit-seeds 5 --no-pareto}
if [ -n "${EXTRA:-}" ]; then  # the checks of earlier sessions, measured on the H100 and H200
    step smoke "${SMOKE_S:-150}" $PY -m nas.run --space cifar_lt200k --smoke-test \
        --storage /tmp/gpu-experiments --name smoke-gpu
    step augment "${AUGMENT_S:-60}" $PY bench/augment.py --device cuda \
        --images "${AUGMENT_IMAGES:-65536}" --batch 512
    step face_scale "${FACE_S:-150}" $PY bench/face_scale.py --device cuda \
        --train-images "${FACE_IMAGES:-14000}"
    step compile "${COMPILE_S:-150}" $PY bench/compile.py --epochs 4 \
        --train-images "${COMPILE_IMAGES:-8192}"
fi
echo "on_gpu: done in $((SECONDS - START)) s"
