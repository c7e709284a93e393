#!/usr/bin/env bash
# Interrupted and starved runs (docs/testing.md, "Files"):
#  1. eps image eval killed with SIGKILL loses at most the part in progress: the rerun reuses the parts
#     already written and its table equals an uninterrupted run's (every metric column).
#  2. eps image classifier killed with SIGKILL mid-epoch resumes from the last epoch and ends with the
#     weights of an uninterrupted run, bit for bit.
#  3. A full disk (a file-size limit: writes fail with EFBIG, as on a full file system) during training, the
#     classifier and the evaluation: exit 2 naming the file that could not be written, no temporary file left
#     behind, and the last good checkpoint still resumes.
# Usage: interrupted.sh EPS_BINARY IMAGE_TEST_DIR WORK_DIR
set -euo pipefail
eps=$1 img=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
wait_for() {  # GLOB COUNT: waits (up to 60 s) until GLOB matches COUNT files
  for _ in $(seq 1 1200); do
    # shellcheck disable=SC2086
    [ "$(ls $1 2> /dev/null | wc -l)" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
kill_run() {  # PID
  if kill -9 "$1" 2> /dev/null; then wait "$1" 2> /dev/null || true; echo "killed with SIGKILL"; else
    wait "$1" || true; echo "note: the run finished before the kill"; fi
}
# 1. The evaluation.
ev=(image eval --models "$work/none" --prior "$img/linear/model.pt" --classifier "$img/cls/whole/classifier.pt"
    --methods pinv,prior,zero_shot,ddrm,ddnm,mpgd --prior-nfe 6 --baseline-nfe 6 --tasks box_inpainting,gaussian_deblur
    --images 2 --seeds 2 --batch 4 --fd-reference 16 --no-cost --no-plots --no-batch1 --threads 1)
"$eps" "${ev[@]}" --out "$work/ev_whole" > /dev/null
"$eps" "${ev[@]}" --out "$work/ev_killed" > /dev/null 2>&1 &
pid=$!
wait_for "$work/ev_killed/parts/test/box_inpainting/*.pt" 3 || true
kill_run "$pid"
kept=$(ls "$work"/ev_killed/parts/test/*/*.pt 2> /dev/null | wc -l)
"$eps" "${ev[@]}" --out "$work/ev_killed" > "$work/ev_rerun.txt"
grep -q "reused" "$work/ev_rerun.txt"
echo "eval: $kept parts survived the kill; the rerun says: $(grep 'method runs computed' "$work/ev_rerun.txt")"
metrics() { cut -d, -f1-20 "$1"; }  # task … consistency_se: every metric column, not the timings
diff <(metrics "$work/ev_whole/results.csv") <(metrics "$work/ev_killed/results.csv") ||
  { echo "FAIL: the resumed evaluation differs from the uninterrupted one"; exit 1; }
# 2. The classifier.
cls=(image classifier --train-subset 2048 --batch 64 --threads 1 --seed 5)
"$eps" "${cls[@]}" --epochs 2 --out "$work/cls_whole" > /dev/null
"$eps" "${cls[@]}" --epochs 2 --out "$work/cls_killed" > /dev/null 2>&1 &
pid=$!
wait_for "$work/cls_killed/checkpoint.pt" 1
sleep 0.5
kill_run "$pid"
"$eps" "${cls[@]}" --epochs 2 --out "$work/cls_killed" --resume > /dev/null
a=$(grep '"weights_hash"' "$work/cls_whole/train.json") b=$(grep '"weights_hash"' "$work/cls_killed/train.json")
[ "$a" = "$b" ] || { echo "FAIL: classifier weights differ after the kill: $a / $b"; exit 1; }
echo "classifier: resumed after SIGKILL, weights equal the uninterrupted run's"
# 3. A full disk: file-size limit at half the checkpoint's size (SIGXFSZ ignored, so writes fail with EFBIG).
starved() {  # LIMIT_KB COMMAND...: runs COMMAND under the limit; prints its exit code
  local limit=$1
  shift
  set +e
  (ulimit -f "$limit"; trap '' XFSZ; exec "$@") > /dev/null 2> "$work/err.txt"
  echo $?
  set -e
}
check_starved() {  # WHAT CODE DIR
  [ "$2" -eq 2 ] && grep -q "cannot write\|cannot move" "$work/err.txt" && grep -q "$3" "$work/err.txt" ||
    { echo "FAIL: $1 on a full disk: exit $2, stderr: $(cat "$work/err.txt")"; exit 1; }
  ! ls "$3"/*.tmp.* > /dev/null 2>&1 || { echo "FAIL: $1 left temporary files: $(ls "$3"/*.tmp.*)"; exit 1; }
  echo "$1: full disk is exit 2 naming $(grep -o "'[^']*'" "$work/err.txt" | head -1), no temporary file left"
}
tr=(image train --batch 4 --channels 8 --multipliers 1,2 --train-subset 64 --val-images 8 --threads 1 --no-plots
    --checkpoint-every 2)
"$eps" "${tr[@]}" --steps 2 --out "$work/train" > /dev/null
size=$(($(stat -c %s "$work/train/checkpoint.pt") / 2048))
code=$(starved "$size" "$eps" "${tr[@]}" --steps 4 --out "$work/train" --resume)
check_starved "training" "$code" "$work/train"
"$eps" "${tr[@]}" --steps 4 --out "$work/train" --resume | grep -q "trained 4 steps (2 in this session" ||
  { echo "FAIL: the last good checkpoint does not resume"; exit 1; }
echo "training: the last good checkpoint resumed"
code=$(starved 64 "$eps" "${cls[@]}" --epochs 1 --out "$work/cls_full")
check_starved "classifier" "$code" "$work/cls_full"
code=$(starved 1 "$eps" "${ev[@]}" --methods prior --fresh --out "$work/ev_full")
check_starved "evaluation" "$code" "$work/ev_full/parts/test/box_inpainting"
echo "interrupted: all checks passed"
