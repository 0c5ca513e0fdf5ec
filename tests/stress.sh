#!/usr/bin/env bash
# The tests that signal, kill or wait on other processes, N times in a row under CPU load.
#
#   tests/stress.sh            # 10 rounds, 2 busy processes beside them
#   tests/stress.sh 3 0        # 3 rounds, no load
#
# Each round runs the signal, worker and sweep tests (and the run layer's claims) once; the
# script stops at the first failing round and exits non-zero. Run it from the repository root
# in the project's virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
busy=${2:-2}
py=${PYTHON:-python}
pids=()
for _ in $(seq 1 "$busy"); do
  "$py" -c "while True: pass" &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
tests=(tests/bench/test_interrupt.py tests/bench/test_workers.py tests/bench/test_sweeps.py
       tests/bench/test_run_layer.py tests/bench/test_train_cli.py)
start=$SECONDS
for i in $(seq 1 "$rounds"); do
  round=$SECONDS
  if ! "$py" -m pytest -q -p no:cacheprovider -p no:randomly "${tests[@]}" > /tmp/stress-$$.log 2>&1; then
    tail -60 /tmp/stress-$$.log
    echo "round $i of $rounds FAILED (${busy} busy processes); log: /tmp/stress-$$.log"
    exit 1
  fi
  echo "round $i of $rounds: $(tail -1 /tmp/stress-$$.log) [$((SECONDS - round)) s]"
done
rm -f /tmp/stress-$$.log
echo "all $rounds rounds passed under $busy busy processes in $((SECONDS - start)) s"
