#!/usr/bin/env bash
# Wall time of .ci/run and of the README's first command from a fresh clone,
# idle and beside one busy (single-threaded) process; docs/performance.md.
#
#   benchmarks/fresh_clone_times.sh [ci_idle] [demo_idle] [ci_busy] [demo_busy]
#
# Clones this repository's HEAD into $WORK (default /tmp/skeeg-fresh), makes a
# venv there that sees the system's packages (the installed torch wheel), and
# appends one line per run to $WORK/times.log; each run's output goes to
# $WORK/<run>.out. Real data: $SKEEG_SHARED_DATA (default ../shared/data).
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/skeeg-fresh}
export SKEEG_SHARED_DATA=${SKEEG_SHARED_DATA:-$REPO/../shared/data}
rm -rf "$WORK" && mkdir -p "$WORK"
git clone -q "$REPO" "$WORK/clone"
python -m venv --system-site-packages "$WORK/venv"
source "$WORK/venv/bin/activate"
cd "$WORK/clone"
run() {  # name, command
  local t0 t1 rc
  t0=$(date +%s.%N)
  bash -c "$2" > "$WORK/$1.out" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  echo "$1 rc=$rc wall_s=$(python -c "print(round($t1 - $t0, 1))")" \
    "load=$(cut -d' ' -f1-3 /proc/loadavg) commit=$(git rev-parse --short HEAD)" \
    | tee -a "$WORK/times.log"
}
DEMO="pip install torch==2.13.0 && pip install . && python examples/ied_demo.py"
for what in "${@:-ci_idle demo_idle ci_busy demo_busy}"; do
  for name in $what; do
    case $name in
      ci_idle | demo_idle) ;;
      ci_busy | demo_busy) python -c "while True: pass" & busy=$! ;;
      *) echo "unknown run: $name" >&2; exit 2 ;;
    esac
    case $name in
      ci_*) run "$name" ".ci/run" ;;
      demo_*) run "$name" "$DEMO --out out_${name#demo_}" ;;
    esac
    [[ $name == *_busy ]] && { kill "$busy"; wait "$busy" 2>/dev/null; }
  done
done
