#!/usr/bin/env bash
# Plots the validation loss (EMA weights) of every shipped model on one page (docs/training.md §8):
# the multi-task pair (EPS, Palette; linear axes), random inpainting fine-tuned against from scratch on shared axes (steps since
# random weights: a fine-tune starts where the prior ended), the per-task fine-tunes, and the prior.
# Usage: scripts/plot-losses.sh [--models DIR] [--out FILE.png]     (needs gnuplot; a model that is missing is left out)
set -euo pipefail
cd "$(dirname "$0")/.."
models=models out=docs/img/training/losses.png
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "plot-losses.sh: unknown option '$1' (expected --models DIR, --out FILE.png)" >&2; exit 2 ;;
  esac
done
command -v gnuplot >/dev/null || { echo "plot-losses.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }
[ -f "$models/prior/loss.csv" ] || { echo "plot-losses.sh: $models/prior/loss.csv not found" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The rows of a log that carry a validation loss, as "step loss"; the step shifted by OFFSET.
val() { awk -F, -v off="$2" 'NR > 1 && $4 != "" { print $1 + off, $4 }' "$1"; }
prior_steps=$(awk -F, 'NR > 1 { s = $1 } END { print s }' "$models/prior/loss.csv")

# curve PANEL NAME OFFSET TITLE: appends one curve to a panel's plot list when the model exists.
declare -A plots
curve() {
  local f="$models/$2/loss.csv"
  [ -f "$f" ] || return 0
  val "$f" "$3" > "$tmp/$1_$2.dat"
  plots[$1]+="${plots[$1]:+, }'$tmp/$1_$2.dat' using 1:2 with linespoints pt 7 ps 0.4 title '$4'"
}
curve multi eps_multitask 0 'EPS'
curve multi palette_multitask 0 'Palette'
curve routes eps_scratch_random_inpainting 0 'EPS from scratch'
curve routes eps_random_inpainting "$prior_steps" 'EPS fine-tuned from the prior'
curve routes eps_random_inpainting_seed2 "$prior_steps" 'the same, seed 2'
for task in random_inpainting box_inpainting super_resolution gaussian_deblur motion_deblur; do
  curve tasks "eps_$task" 0 "${task//_/ }"
done
curve prior prior 0 'prior (x_t input)'
none="1/0 notitle"

mkdir -p "$(dirname "$out")"
gnuplot <<EOF
set terminal pngcairo size 1200,900 font ',10'
set output '$out.tmp'
set multiplot layout 2,2
set grid
set format y '%.3f'
set ylabel 'validation loss (EMA weights)'
set xlabel 'fine-tuning step'
set title 'Five tasks (one drawn per minibatch), fine-tuned from the prior'
plot ${plots[multi]:-$none}
set logscale y
set xlabel 'steps since random weights'
set title 'Random inpainting: fine-tuned (after $prior_steps prior steps) against from scratch'
set arrow from $prior_steps, graph 0 to $prior_steps, graph 1 nohead dt 2
plot ${plots[routes]:-$none}
unset arrow
unset logscale y
set xlabel 'fine-tuning step'
set title 'EPS per task, fine-tuned from the prior (each on its own task)'
plot ${plots[tasks]:-$none}
set logscale y
set xlabel 'step'
set title 'The prior (EDM denoising; a different loss)'
plot ${plots[prior]:-$none}
unset multiplot
EOF
mv "$out.tmp" "$out"
echo "plot-losses.sh: wrote $out"
