#!/usr/bin/env bash
# The issue #16 GPU checks in one command per stage, for the offline device
# machine (docs/performance.md, "Running the GPU checks").
#
#   bash benchmarks/gpu_proof.sh bench     # detection, throughput, overhead
#   bash benchmarks/gpu_proof.sh ablation  # iEDeaL paper protocol on Bonn
#   DEVICE=cpu bash benchmarks/gpu_proof.sh smoke   # both at smoke sizes
#
# It installs the carried wheels ($KIT/wheels, built as benchmarks/gpu_wheels.txt
# says) offline into $SITE, runs skeeg from the source tree, and writes every
# result and a log ($OUT/<stage>.log) under $OUT. Each script runs under its own
# time limit, so one that overruns is cut and the next still runs; a cut
# script leaves no results except the ablation, which writes after every fold.
#
# Environment: DEVICE (cuda), SIZE (full; smoke for a dry run), KIT (gpu_kit),
# WHEELS ($KIT/wheels), SITE (/tmp/skeeg_site), OUT (out/gpu), THREADS (8: the
# detection run's torch and BLAS threads, for its CPU share), JOBS (9: the
# ablation's fits in parallel, one per loss variant), RESUME (the JSON of a cut
# ablation run, to go on from its finished folds), and the limits in seconds
# LIMIT_DETECTION (150), LIMIT_THROUGHPUT (180), LIMIT_OVERHEAD (150),
# LIMIT_ABLATION (270). The smoke stage writes 9 files under $OUT, one more than
# the device machine returns: it is for a CPU dry run.
set -euo pipefail
cd "$(dirname "$0")/.."

STAGE=${1:?usage: gpu_proof.sh bench|ablation|smoke}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-full}
KIT=${KIT:-gpu_kit}
WHEELS=${WHEELS:-$KIT/wheels}
SITE=${SITE:-/tmp/skeeg_site}
OUT=${OUT:-out/gpu}
JOBS=${JOBS:-9}
if [[ $STAGE == smoke ]]; then
    SIZE=smoke
fi
mkdir -p "$OUT"
exec > >(tee -a "$OUT/$STAGE.log") 2>&1
export PYTHONUNBUFFERED=1

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
python3 - "$DEVICE" <<'EOF'
import sys

import mne, sklearn, skorch, torch

import skeeg

device = sys.argv[1]
if device.startswith("cuda"):
    print("GPU:", torch.cuda.get_device_name(torch.device(device)))
else:
    print("device:", device, "(no GPU)")
print(
    f"python {sys.version.split()[0]}, torch {torch.__version__}, sklearn "
    f"{sklearn.__version__}, skorch {skorch.__version__}, mne {mne.__version__}, "
    f"skeeg {skeeg.__version__} from {skeeg.__file__}"
)
EOF

failed=0
# step LIMIT SCRIPT ARGS...: one benchmark under a time limit; a failure or a
# cut is logged and the stage goes on.
step() {
    local limit=$1 rc=0
    shift
    echo "== $(date +%T) $* (limit ${limit} s)"
    timeout --kill-after=10 "$limit" python3 "$@" || rc=$?
    if ((rc == 0)); then
        echo "== $(date +%T) done"
    else
        echo "== $(date +%T) FAILED (exit $rc; 124: cut at the limit)"
        failed=1
    fi
}

bench() {
    local hours=24 batch=4096
    if [[ $SIZE == smoke ]]; then
        hours=0.02 batch=256
    fi
    # Detection first: its hours scored per wall minute is the headline goal.
    step "${LIMIT_DETECTION:-150}" benchmarks/detection_throughput.py \
        --hours "$hours" --device "$DEVICE" --batch-size "$batch" \
        --threads "${THREADS:-8}" --out "$OUT"
    step "${LIMIT_THROUGHPUT:-180}" benchmarks/throughput.py \
        --size "$SIZE" --device "$DEVICE" --compile --out "$OUT"
    step "${LIMIT_OVERHEAD:-150}" benchmarks/overhead.py \
        --size "$SIZE" --device "$DEVICE" --out "$OUT"
}

# The paper protocol's "reduced" size is its Bonn-only run (S vs rest at 5 %,
# 2,000 windows, 5 seeds x 3 folds, 9 loss variants + 5 step-matched
# controls, learning rates chosen per loss); its "full" size and every size of
# iedeal_ablation.py need eegmat, which does not travel.
ablation() {
    local size=reduced
    if [[ $SIZE == smoke ]]; then
        size=smoke
    fi
    step "${LIMIT_ABLATION:-270}" benchmarks/iedeal_paper_protocol.py \
        --size "$size" --device "$DEVICE" --data "$KIT/data" \
        --jobs "$JOBS" --threads 1 --out "$OUT" ${RESUME:+--resume "$RESUME"}
}

case $STAGE in
bench) bench ;;
ablation) ablation ;;
smoke)
    bench
    ablation
    ;;
*)
    echo "unknown stage: $STAGE (bench, ablation or smoke)"
    exit 2
    ;;
esac
echo "== results in $OUT:"
ls -l "$OUT"
exit "$failed"
