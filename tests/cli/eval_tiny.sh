#!/usr/bin/env bash
# `eps image eval` on a tiny configuration (docs/evaluation.md): tiny networks from the image tests, two
# test images, one seed, every task and every method of the registry. Checks that every promised output is
# written with its columns (table as Markdown, CSV and JSON; a labelled grid and its legend per task; PSNR and
# FD against NFE per task and the cost plot), that every row holds finite metrics, that a second run reuses
# every method's samples and reproduces results.csv, that --set and a tuned file reach the methods, that
# `eps image tune` writes a file eval reads, that the validation split, --first and --box drawn select other
# images or boxes, and that bad input is a named error. scripts/eval_table.py and scripts/claims.py read the run.
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
      --threads 1)
base=("${args[@]}")
args+=(--out "$work/out")
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
# The CSV: the promised columns, 12 methods per task (+4 EPS variants on random inpainting), finite metrics.
header=$(head -1 "$out/results.csv")
for c in task method label nfe psnr psnr_se ssim ssim_se psnr_mean ssim_mean crps fd fd_se consistency sigma_y \
         seconds_per_image_b1 seconds_per_image batch split first knobs; do
  echo ",$header," | grep -q ",$c," || { echo "results.csv lacks column $c"; exit 1; }
done
awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) col[$i] = i; next }
  { ++n; m[$1 " " $2] = 1
    if ($(col["psnr"]) == "" || $(col["ssim"]) == "" || $(col["crps"]) == "" || $(col["fd"]) == "" ||
        $(col["consistency"]) == "" || $(col["seconds_per_image"]) == "") { print "row " NR " has an empty metric: " $0; bad = 1 } }
  END {
    split("pinv prior@2 eps_multitask@1 eps_multitask@2 palette@2 zero_shot@2 dps@2 pigdm@2 ddnm@2 ddrm@2 daps@5 mpgd@2", ms, " ")
    split("random_inpainting box_inpainting super_resolution gaussian_deblur motion_deblur", ts, " ")
    for (i in ts) for (j in ms) if (!((ts[i] " " ms[j]) in m)) { print "no row for " ts[i] " " ms[j]; bad = 1 }
    split("eps_task@1 eps_task@2 eps_scratch@1 eps_scratch@2", ex, " ")
    for (j in ex) if (!(("random_inpainting " ex[j]) in m)) { print "no row for random_inpainting " ex[j]; bad = 1 }
    if (n != 64) { print "expected 64 rows, got " n; bad = 1 }
    exit bad }' "$out/results.csv"
# DAPS at a budget of 2 runs one level of 5 ODE steps: the label and the NFE column carry the sampler's count.
awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) col[$i] = i; next }
  $2 == "daps@5" && $(col["nfe"]) != 5 { print "daps@5: nfe " $(col["nfe"]) ", expected 5"; bad = 1 }
  $2 == "dps@2" && $(col["vjp"]) != 2 { print "dps@2: vjp " $(col["vjp"]) ", expected 2"; bad = 1 }
  END { exit bad }' "$out/results.csv"
for k in '"rows"' '"cost"' '"config"' '"fd_other_images"' '"fd_truths"' '"fd_bootstrap"' '"pivot_share"' '"eps20_seconds_per_image_b1"' '"knobs"'; do
  grep -q "$k" "$out/results.json" || { echo "results.json lacks $k"; exit 1; }
done
# results.json carries every image's PSNR: scripts/eval_table.py --paired's mean difference equals the difference
# of the means in results.csv (to the table's rounding).
if command -v python3 > /dev/null; then
  python3 "$(dirname "$0")/../../scripts/eval_table.py" "$out/results.json" --paired pinv > "$work/paired.txt"
  got=$(grep "^| eps_multitask@2 |" "$work/paired.txt" | cut -d'|' -f4 | awk '{ print $1 }' | sed 's/−/-/; s/^+//')
  want=$(awk -F, '$1 == "box_inpainting" && $2 == "pinv" { p = $7 } $1 == "box_inpainting" && $2 == "eps_multitask@2" { e = $7 }
                  END { printf "%.6f", p - e }' "$out/results.csv")
  awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; exit !(g != "" && d < 0.0051 && d > -0.0051) }' ||
    { echo "eval_table.py --paired: $got, the means differ by $want"; cat "$work/paired.txt"; exit 1; }
  # Its last column, each image's difference averaged over the five tasks, equals the mean of the five
  # differences of means.
  got=$(grep "^| eps_multitask@2 |" "$work/paired.txt" | cut -d'|' -f8 | awk '{ print $1 }' | sed 's/−/-/; s/^+//')
  want=$(awk -F, '$2 == "pinv" { p += $7 } $2 == "eps_multitask@2" { e += $7 } END { printf "%.6f", (p - e) / 5 }' \
         "$out/results.csv")
  awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; exit !(g != "" && d < 0.0051 && d > -0.0051) }' ||
    { echo "eval_table.py --paired's mean over tasks: $got, the means differ by $want"; cat "$work/paired.txt"; exit 1; }
  # FD paired through its bootstrap replicates: the difference is the one of results.csv's FD column, and its
  # spread is finite (two images: the draws differ).
  python3 "$(dirname "$0")/../../scripts/eval_table.py" "$out/results.json" --paired pinv --metric fd > "$work/paired_fd.txt"
  got=$(grep "^| eps_multitask@2 |" "$work/paired_fd.txt" | cut -d'|' -f4 | sed 's/−/-/g; s/+//g')
  want=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) col[$i] = i; next }
                  $1 == "box_inpainting" && $2 == "pinv" { p = $(col["fd"]) }
                  $1 == "box_inpainting" && $2 == "eps_multitask@2" { e = $(col["fd"]) } END { printf "%.6f", p - e }' "$out/results.csv")
  # (results.csv holds 4 significant digits; the table 2 decimals)
  echo "$got" | awk -v w="$want" '{ d = $1 - w; t = 0.0051 + 1e-3 * (w < 0 ? -w : w)
                                   exit !(NF == 3 && $2 == "±" && d < t && d > -t && $3 >= 0) }' ||
    { echo "eval_table.py --paired --metric fd: '$got', the FDs differ by $want"; cat "$work/paired_fd.txt"; exit 1; }
  # scripts/claims.py: EPS − DPS over the tasks is the mean of results.csv's five differences of means, and its
  # verdict follows the two-standard-error rule.
  python3 "$(dirname "$0")/../../scripts/claims.py" "$out/results.json" --eps eps_multitask@2 > "$work/claims.txt"
  line=$(grep "^| eps_multitask@2 beats DPS (dps@2) |" "$work/claims.txt") ||
    { echo "claims.py has no DPS row"; cat "$work/claims.txt"; exit 1; }
  got=$(echo "$line" | cut -d'|' -f3 | sed 's/.*\*\*\(.*\)\*\*.*/\1/; s/−/-/g; s/+//g')
  want=$(awk -F, '$2 == "dps@2" { p += $7 } $2 == "eps_multitask@2" { e += $7 } END { printf "%.6f", (e - p) / 5 }' \
         "$out/results.csv")
  verdict=$(echo "$line" | cut -d'|' -f4)
  echo "$got" | awk -v w="$want" -v v="$verdict" '{ d = $1 - w; m = $1; s = $3
      want_v = m >= 2 * s ? "holds" : -m >= 2 * s ? "does not hold" : "level"
      exit !(NF == 3 && d < 0.0051 && d > -0.0051 && index(v, want_v " on average") > 0) }' ||
    { echo "claims.py: EPS - DPS over the tasks '$got' ($verdict), the means differ by $want"; cat "$work/claims.txt"
      exit 1; }
fi
# A second run reuses every method's samples and gives the same results.csv: every metric, and the VJP counts
# and seconds per image that each part carries from the run that computed it.
cp "$out/results.csv" "$work/first.csv"
cp "$out/results.json" "$work/first.json"
"$eps" "${args[@]}" > "$work/second.txt"
grep -q "^0 method runs computed, 64 reused" "$work/second.txt" || { echo "the second run did not reuse the parts"; exit 1; }
diff "$work/first.csv" "$out/results.csv" || { echo "the reused parts gave another results.csv"; exit 1; }
diff <(grep "^| pinv\|^| eps_multitask@2" "$work/first.txt" | cut -d'|' -f1-10) \
     <(grep "^| pinv\|^| eps_multitask@2" "$work/second.txt" | cut -d'|' -f1-10)
# The labelled grid is larger than the images alone: 2x zoom and a header of labels (16 columns of 56 + 2 px).
w=$(od -An -tu1 -j16 -N4 "$out/grid_box_inpainting.png" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
[ "$w" -eq $((16 * 58 + 2)) ] || { echo "grid width $w, expected $((16 * 58 + 2))"; exit 1; }
# --set reaches the method (another key: recomputed, and the table shows the knob).
"$eps" "${args[@]}" --tasks motion_deblur --methods dps --set dps.zeta=0.25 --no-cost > "$work/set.txt"
grep -q "^| dps@2 .*zeta=0.25 |" "$work/set.txt" || { echo "--set did not reach dps"; exit 1; }
grep -q "^1 method runs computed" "$work/set.txt" || { echo "--set did not recompute dps"; exit 1; }
# eval_table.py --against pairs two runs on the same images: its mean difference for dps@2 equals the difference
# of the two runs' means.
if command -v python3 > /dev/null; then
  python3 "$(dirname "$0")/../../scripts/eval_table.py" "$out/results.json" --against "$work/first.json" > "$work/against.txt"
  got=$(grep "^| dps@2 |" "$work/against.txt" | cut -d'|' -f3 | awk '{ print $1 }' | sed 's/−/-/; s/^+//')
  want=$(awk -F, '$1 == "motion_deblur" && $2 == "dps@2" { v[FILENAME] = $7 } END { printf "%.6f", v[ARGV[1]] - v[ARGV[2]] }' \
         "$out/results.csv" "$work/first.csv")
  awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; exit !(g != "" && d < 0.0051 && d > -0.0051) }' ||
    { echo "eval_table.py --against: $got, the means differ by $want"; cat "$work/against.txt"; exit 1; }
fi
# eps image tune on the validation split writes a file that eval reads.
"$eps" image tune --models "$work/models" --prior "$img/linear/model.pt" --eps "$img/eps_ft/model.pt" \
  --tasks super_resolution --methods dps,mpgd --images 2 --batch 2 --dps-nfe 2 --baseline-nfe 2 --threads 1 \
  --out "$work/tune" --file "$work/tuned.json" > "$work/tune.txt"
grep -q '"format": "eps.tuned"' "$work/tuned.json" || { echo "tune wrote no eps.tuned file"; exit 1; }
test -s "$work/tune/tuning.md" || { echo "tune wrote no table"; exit 1; }
grep -c "^| super_resolution | dps@2 | zeta |" "$work/tune/tuning.md" | grep -q '^8$' || { echo "tune did not sweep zeta"; exit 1; }
# A second tune of one method on the same file keeps the other method's values and sweep (same prior, split).
cp "$work/tuned.json" "$work/tuned_both.json"
"$eps" image tune --models "$work/models" --prior "$img/linear/model.pt" --eps "$img/eps_ft/model.pt" \
  --tasks super_resolution --methods mpgd --images 2 --batch 2 --baseline-nfe 2 --threads 1 \
  --out "$work/tune_mpgd" --file "$work/tuned_both.json" > "$work/tune_mpgd.txt"
grep -q "^kept from .*dps/super_resolution" "$work/tune_mpgd.txt" || { echo "tune did not keep dps"; exit 1; }
[ "$(grep -c "^| super_resolution | dps@2 | zeta |" "$work/tune_mpgd/tuning.md")" = 8 ] &&
  [ "$(grep -o '"zeta": [0-9.e+-]*' "$work/tuned_both.json")" = "$(grep -o '"zeta": [0-9.e+-]*' "$work/tuned.json")" ] ||
  { echo "the second tune lost dps's values or sweep"; exit 1; }
z=$(grep -o '"zeta": [0-9.e+-]*' "$work/tuned.json" | head -1 | awk '{ printf "%g", $2 }')
"$eps" "${args[@]}" --tasks super_resolution --methods dps --tuned "$work/tuned.json" --no-cost > "$work/tuned_eval.txt"
grep -q "^| dps@2 .*zeta=$z |" "$work/tuned_eval.txt" || { echo "eval did not read the tuned zeta $z"; exit 1; }
# The validation split and --first restore other images.
"$eps" "${base[@]}" --tasks box_inpainting --methods pinv --split val --no-cost --out "$work/val" > /dev/null
"$eps" "${base[@]}" --tasks box_inpainting --methods pinv --first 2 --no-cost --out "$work/first2" > /dev/null
a=$(grep "^box_inpainting,pinv" "$work/first.csv" | cut -d, -f7)
b=$(grep "^box_inpainting,pinv" "$work/val/results.csv" | cut -d, -f7)
c=$(grep "^box_inpainting,pinv" "$work/first2/results.csv" | cut -d, -f7)
[ "$a" != "$b" ] && [ "$a" != "$c" ] || { echo "--split val / --first gave the same PSNR as the test images: $a $b $c"; exit 1; }
grep -q "^box_inpainting,pinv,.*,val,0," "$work/val/results.csv" || { echo "results.csv does not say split val"; exit 1; }
# --box drawn: boxes from the training distribution on the same images (another A†y), said in results.json.
"$eps" "${base[@]}" --tasks box_inpainting --methods pinv --box drawn --no-cost --out "$work/drawn" > /dev/null
d=$(grep "^box_inpainting,pinv" "$work/drawn/results.csv" | cut -d, -f7)
[ "$a" != "$d" ] || { echo "--box drawn gave the centred box's PSNR: $a"; exit 1; }
grep -q '"box": "drawn"' "$work/drawn/results.json" || { echo "results.json does not say box drawn"; exit 1; }
# One image: no Fréchet distance (it needs two), and no FD plot, but everything else.
"$eps" image eval --models "$work/models" --prior "$img/linear/model.pt" --classifier "$img/cls/whole/classifier.pt" \
  --images 1 --seeds 1 --fd-reference 64 --threads 1 --tasks box_inpainting --methods pinv,zero_shot --prior-nfe 2 \
  --baseline-nfe 2 --no-cost --out "$work/one" > /dev/null
[ -s "$work/one/plots/psnr_box_inpainting.png" ] && [ ! -e "$work/one/plots/fd_box_inpainting.png" ] ||
  { echo "--images 1: expected the PSNR plot and no FD plot"; exit 1; }
# Bad input: named errors, exit code 2.
set +e
"$eps" image eval --methods eps,magic --out "$work/bad" > /dev/null 2> "$work/err.txt"; code=$?
set -e
[ $code -eq 2 ] && grep -q "unknown method 'magic'" "$work/err.txt" || { echo "bad --methods: code $code"; cat "$work/err.txt"; exit 1; }
for bad in "--set dps.zeta=nan" "--set dps.step=1" "--set dps" "--split train" "--box square" "--tuned $work/first.csv"; do
  set +e
  "$eps" "${args[@]}" $bad > /dev/null 2> "$work/err.txt"; code=$?
  set -e
  [ $code -eq 2 ] || { echo "$bad: exit $code, expected 2"; cat "$work/err.txt"; exit 1; }
done

set +e
"$eps" image eval --models "$work/models" --classifier "$work/none.pt" --out "$work/bad" > /dev/null 2> "$work/err.txt"; code=$?
set -e
[ $code -eq 2 ] && grep -q "no classifier at .*none.pt.*--models DIR" "$work/err.txt" || { echo "missing classifier: code $code"; cat "$work/err.txt"; exit 1; }
echo "eval_tiny: all outputs present, 64 rows, parts reused, knobs, tuning and splits"
