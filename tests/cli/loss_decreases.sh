#!/usr/bin/env bash
# A few hundred steps on a tiny network lower EDM's loss: the validation loss of the EMA weights (fixed
# images, levels and noise) at the end is below 0.8 of the first one (a fresh network scores ~1.4, the
# unit-variance target of an untrained one). Usage: loss_decreases.sh EPS_BINARY WORK_DIR
set -euo pipefail
eps=$1 work=$2
rm -rf "$work"
"$eps" image train --batch 16 --channels 8 --multipliers 1,2 --no-attention --train-subset 2048 --val-images 64 \
  --threads 1 --no-plots --steps 300 --warmup 20 --lr 2e-3 --ema-half-life 500 --checkpoint-every 50 \
  --log-every 50 --out "$work" > /dev/null
awk -F, 'NR > 1 && $4 != "" { v[++n] = $4 } END {
  printf "validation loss: first %.4f, last %.4f\n", v[1], v[n];
  exit !(n >= 2 && v[n] < 0.8 * v[1]) }' "$work/loss.csv"
