#!/usr/bin/env bash
# scripts/eval-split.sh (two processes, tasks dealt between them, then one assembling run) writes the results
# a single `eps image eval` process writes on the same options: every metric of every row, to the last digit
# (the timing columns aside), and its assembling run computes nothing. Run again, it resumes: no process
# computes anything. A bad --jobs is a named error.
# Usage: eval_split.sh EPS_BINARY IMAGE_TEST_DIR WORK_DIR
set -euo pipefail
eps=$1 img=$2 work=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work" && mkdir -p "$work/none"
args=(--models "$work/none" --prior "$img/linear/model.pt" --eps "$img/eps_ft/model.pt"
      --palette "$img/palette/model.pt" --classifier "$img/cls/whole/classifier.pt" --images 2 --seeds 1 --batch 2
      --eps-nfe 1,2 --prior-nfe 2 --baseline-nfe 2 --dps-nfe 2 --fd-reference 64 --no-cost --no-batch1 --no-plots
      --threads 1)  # every task: the script's default task list
"$eps" image eval "${args[@]}" --out "$work/one" > "$work/one.txt"
bash "$root/scripts/eval-split.sh" --jobs 2 --binary "$eps" "${args[@]}" --out "$work/two" > "$work/two.txt"
cat "$work/two.txt"
grep -q "process 1: --tasks box_inpainting,gaussian_deblur (log" "$work/two.txt" || { echo "FAIL: tasks not dealt round-robin"; exit 1; }
grep -q "^0 method runs computed" "$work/two.txt" || { echo "FAIL: the assembling run recomputed parts"; exit 1; }
strip() {  # results.csv without the timing columns
  awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i !~ /^seconds/) keep[i] = 1 }
    { line = ""; for (i = 1; i <= NF; ++i) if (i in keep) line = line $i ","; print line }' "$1"
}
rows=$(($(wc -l < "$work/one/results.csv") - 1))
[ "$rows" -ge 30 ] || { echo "FAIL: only $rows rows in the single-process run"; exit 1; }
diff <(strip "$work/one/results.csv") <(strip "$work/two/results.csv") || { echo "FAIL: results differ"; exit 1; }
echo "the split run's $rows rows equal the single process's"
bash "$root/scripts/eval-split.sh" --jobs 2 --binary "$eps" "${args[@]}" --out "$work/two" > "$work/again.txt"
for j in 0 1; do
  grep -q "^0 method runs computed" "$work/two/split/$j.log" || { echo "FAIL: process $j recomputed on resuming"; exit 1; }
done
if bash "$root/scripts/eval-split.sh" --jobs 0 --binary "$eps" "${args[@]}" --out "$work/bad" 2> "$work/bad.txt"; then
  echo "FAIL: --jobs 0 accepted"; exit 1
fi
grep -q "not a positive integer" "$work/bad.txt" || { echo "FAIL: no message for --jobs 0"; cat "$work/bad.txt"; exit 1; }
