#!/usr/bin/env bash
# A training run killed with SIGKILL and resumed ends with the weights (and EMA) of a run that was never
# interrupted, bit for bit (CPU, one thread). Usage: kill_resume.sh EPS_BINARY WORK_DIR [TRAIN_ARGS...]
# (TRAIN_ARGS: e.g. --objective eps --from-scratch, whose operators come from a generator of their own.)
# Then the finished run is resumed once more: it trains nothing and keeps its total training time.
set -euo pipefail
eps=$1 work=$2
shift 2
args=(image train --batch 8 --channels 8 --multipliers 1,2 --train-subset 512 --val-images 16 --log-every 5
      --threads 1 --no-plots --steps 60 --seed 3 "$@")
rm -rf "$work" && mkdir -p "$work"
"$eps" "${args[@]}" --checkpoint-every 60 --out "$work/whole" > /dev/null
"$eps" "${args[@]}" --checkpoint-every 1 --out "$work/killed" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [[ -f "$work/killed/checkpoint.pt" ]] && break; sleep 0.05; done
sleep 0.3
if kill -9 "$pid" 2> /dev/null; then
  wait "$pid" 2> /dev/null || true
  echo "killed the run with SIGKILL"
else
  wait "$pid" || true
  echo "note: the run finished before the kill; resuming a finished run"
fi
"$eps" "${args[@]}" --checkpoint-every 1 --out "$work/killed" --resume > /dev/null
for key in weights_hash ema_hash; do
  a=$(grep "\"$key\"" "$work/whole/train.json") b=$(grep "\"$key\"" "$work/killed/train.json")
  echo "$key: uninterrupted ${a##*: } resumed ${b##*: }"
  [[ "$a" == "$b" ]] || { echo "FAIL: $key differs"; exit 1; }
done
total() { sed -n 's/.*"seconds_total": \([0-9.e+-]*\).*/\1/p' "$1"; }
t1=$(total "$work/killed/train.json")
"$eps" "${args[@]}" --checkpoint-every 1 --out "$work/killed" --resume > /dev/null
t2=$(total "$work/killed/train.json")
echo "seconds_total: after the resume $t1, after resuming the finished run $t2"
awk -v a="$t1" 'BEGIN { exit !(a > 0) }' || { echo "FAIL: seconds_total '$t1' is not a positive number"; exit 1; }
[[ "$t1" == "$t2" ]] || { echo "FAIL: resuming a finished run changed seconds_total"; exit 1; }
