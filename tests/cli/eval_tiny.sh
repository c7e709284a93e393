#!/usr/bin/env bash
# `eps image eval` on a tiny configuration (docs/evaluation.md): tiny networks from the image tests, two
# test images, one seed, every task and every method. Checks that every promised output is written with
# its columns (table as Markdown, CSV and JSON; a grid and its legend per task; PSNR and FD against NFE per
# task and the cost plot), that every row holds finite metrics, that a second run reuses every method's
# samples and reproduces results.csv, and that bad input is a named error.
# Usage: eval_tiny.sh EPS_BINARY IMAGE_TEST_DIR WORK_DIR
set -euo pipefail
eps=$1 img=$2 work=$3
rm -rf "$work"
mkdir -p "$work/models/eps_random_inpainting" "$work/models/eps_scratch_random_inpainting"
# The per-task and from-scratch slots hold the tiny EPS model: they run as methods of their own.
cp "$img/eps_ft/model.pt" "$work/models/eps_random_inpainting/model.pt"
cp "$img/eps_ft/model.pt" "$work/models/eps_scratch_random_inpainting/model.pt"
args=(image eval --models "$work/models" --prior "$img/linear/model.pt" --eps "$img/eps_ft/model.pt"
      --palette "$img/palette/model.pt" --classifier "$img/cls/whole/classifier.pt" --images 2 --seeds 1 --batch 2
      --eps-nfe 1,2 --prior-nfe 2 --baseline-nfe 2 --dps-nfe 2 --fd-reference 64 --cost-reps 1 --timing-reps 2
      --threads 1 --out "$work/out")
"$eps" "${args[@]}" > "$work/first.txt"
out=$work/out
tasks="random_inpainting box_inpainting super_resolution gaussian_deblur motion_deblur"
for f in results.md results.csv results.json plots/cost.png; do
  test -s "$out/$f" || { echo "missing $f"; exit 1; }
done
for t in $tasks; do
  for f in "grid_$t.png" "grid_$t.txt" "plots/psnr_$t.png" "plots/fd_$t.png"; do
    test -s "$out/$f" || { echo "missing $f"; exit 1; }
  done
  grep -q "^### $t" "$out/results.md" || { echo "results.md has no table for $t"; exit 1; }
  grep -q "^| $t |" "$out/results.md" || { echo "results.md has no cost row for $t"; exit 1; }
done
grep -q "pivot share" "$work/first.txt" || { echo "the printed table has no cost section"; exit 1; }
# The CSV: the promised columns, 10 methods per task (+4 EPS variants on random inpainting), finite metrics.
header=$(head -1 "$out/results.csv")
for c in task method nfe psnr psnr_se ssim ssim_se psnr_mean ssim_mean crps fd consistency sigma_y \
         seconds_per_image_b1 seconds_per_image batch; do
  echo ",$header," | grep -q ",$c," || { echo "results.csv lacks column $c"; exit 1; }
done
awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) col[$i] = i; next }
  { ++n; m[$1 " " $2] = 1
    if ($(col["psnr"]) == "" || $(col["ssim"]) == "" || $(col["crps"]) == "" || $(col["fd"]) == "" ||
        $(col["consistency"]) == "" || $(col["seconds_per_image"]) == "") { print "row " NR " has an empty metric: " $0; bad = 1 } }
  END {
    split("pinv prior@2 eps_multitask@1 eps_multitask@2 palette@2 zero_shot@2 dps@2 pigdm@2 ddnm@2 ddrm@2", ms, " ")
    split("random_inpainting box_inpainting super_resolution gaussian_deblur motion_deblur", ts, " ")
    for (i in ts) for (j in ms) if (!((ts[i] " " ms[j]) in m)) { print "no row for " ts[i] " " ms[j]; bad = 1 }
    split("eps_task@1 eps_task@2 eps_scratch@1 eps_scratch@2", ex, " ")
    for (j in ex) if (!(("random_inpainting " ex[j]) in m)) { print "no row for random_inpainting " ex[j]; bad = 1 }
    if (n != 54) { print "expected 54 rows, got " n; bad = 1 }
    exit bad }' "$out/results.csv"
for k in '"rows"' '"cost"' '"config"' '"fd_test_images"' '"pivot_share"' '"eps20_seconds_per_image_b1"'; do
  grep -q "$k" "$out/results.json" || { echo "results.json lacks $k"; exit 1; }
done
# A second run reuses every method's samples and gives the same results.csv: every metric, and the VJP counts
# and seconds per image that each part carries from the run that computed it.
cp "$out/results.csv" "$work/first.csv"
"$eps" "${args[@]}" > "$work/second.txt"
grep -q "^0 method runs computed, 54 reused" "$work/second.txt" || { echo "the second run did not reuse the parts"; exit 1; }
diff "$work/first.csv" "$out/results.csv" || { echo "the reused parts gave another results.csv"; exit 1; }
diff <(grep "^| pinv\|^| eps_multitask@2" "$work/first.txt" | cut -d'|' -f1-10) \
     <(grep "^| pinv\|^| eps_multitask@2" "$work/second.txt" | cut -d'|' -f1-10)
# Bad input: named errors, exit code 2.
set +e
"$eps" image eval --methods eps,magic --out "$work/bad" > /dev/null 2> "$work/err.txt"; code=$?
set -e
[ $code -eq 2 ] && grep -q "unknown method 'eps'" "$work/err.txt" || { echo "bad --methods: code $code"; cat "$work/err.txt"; exit 1; }
set +e
"$eps" image eval --models "$work/models" --classifier "$work/none.pt" --out "$work/bad" > /dev/null 2> "$work/err.txt"; code=$?
set -e
[ $code -eq 2 ] && grep -q "no classifier at .*none.pt.*--models DIR" "$work/err.txt" || { echo "missing classifier: code $code"; cat "$work/err.txt"; exit 1; }
echo "eval_tiny: all outputs present, 54 rows, parts reused"
