#!/usr/bin/env bash
# Data-parallel training over c10d/Gloo (docs/training.md §6): two processes on 127.0.0.1, each with half of
# every minibatch, end with the weights of one process that trains on the whole minibatch (to float32
# round-off); and when one process dies, the other exits with a named error within the timeout instead of
# hanging. Usage: ddp.sh EPS_BINARY WORK_DIR PORT
set -euo pipefail
eps=$1 work=$2 port=$3
args=(image train --objective eps --from-scratch --tasks all --batch 8 --channels 8 --multipliers 1,2
      --train-subset 512 --val-images 16 --log-every 5 --threads 1 --no-plots --seed 5)
rm -rf "$work" && mkdir -p "$work"
"$eps" "${args[@]}" --steps 12 --checkpoint-every 12 --out "$work/one" > /dev/null
export MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2
RANK=1 "$eps" "${args[@]}" --steps 12 --checkpoint-every 12 --out "$work/two" > "$work/rank1.log" 2>&1 &
pid=$!
RANK=0 "$eps" "${args[@]}" --steps 12 --checkpoint-every 12 --out "$work/two" > "$work/rank0.log" 2>&1
wait "$pid"
grep -q '"processes": 2' "$work/two/train.json" || { echo "FAIL: not a 2-process run"; exit 1; }
"$eps" image compare "$work/one/model.pt" "$work/two/model.pt" --tol 1e-4
unset WORLD_SIZE RANK
"$eps" image compare "$work/one/checkpoint.pt" "$work/two/model.pt" > "$work/cmp.log" 2>&1 && { echo "FAIL: a checkpoint compared as a model"; exit 1; }
grep -q 'not an eps model file' "$work/cmp.log"

# A process that dies: rank 1 is killed once training runs (rank 0 has written its first checkpoint, so the
# rendezvous is done); rank 0 must fail, naming the cause, within the timeout.
export WORLD_SIZE=2 MASTER_PORT=$((port + 1))
dead=(--steps 100000 --checkpoint-every 5 --dist-timeout 20 --out "$work/dead")
RANK=1 "$eps" "${args[@]}" "${dead[@]}" > /dev/null 2>&1 &
victim=$!
RANK=0 "$eps" "${args[@]}" "${dead[@]}" > "$work/dead0.log" 2>&1 &
survivor=$!
for _ in $(seq 1 1200); do [[ -f "$work/dead/checkpoint.pt" ]] && break; sleep 0.1; done
[[ -f "$work/dead/checkpoint.pt" ]] || { echo "FAIL: the two processes did not start training"; kill -9 $victim $survivor; exit 1; }
kill -9 "$victim"
start=$(date +%s)
set +e
wait "$survivor"
code=$?
set -e
took=$(( $(date +%s) - start ))
echo "rank 0 exited with code $code ${took}s after the kill: $(grep 'error' "$work/dead0.log" | head -c 300)"
[[ $code -ne 0 ]] || { echo "FAIL: rank 0 did not fail"; exit 1; }
grep -q 'data-parallel .* failed on rank 0 of 2' "$work/dead0.log" || { echo "FAIL: no named error"; exit 1; }
(( took < 60 )) || { echo "FAIL: took ${took}s"; exit 1; }
echo "ok"
