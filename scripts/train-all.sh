#!/usr/bin/env bash
# Retrains every shipped model of the image pipeline from scratch (docs/training.md §8) and copies its
# weights, loss log and plot into models/. Every stage resumes where it stopped (`--resume`), so the
# script can be interrupted and run again. Needs the reference program (README, first command).
# Usage: scripts/train-all.sh [--threads N] [--device cpu|cuda] [--runs DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 device=cpu runs=runs
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "train-all.sh: unknown option '$1' (expected --threads N, --device D, --runs DIR)" >&2; exit 2 ;;
  esac
done
eps=build/release/reference/eps
[ -x "$eps" ] || { echo "train-all.sh: $eps not found; build it first (README, first command)" >&2; exit 2; }
run=(--threads "$threads" --device "$device" --checkpoint-every 250 --log-every 50 --resume)
finetune=("${run[@]}" --lr 5e-4 --warmup 100)

stage() {  # NAME ARGS...: trains runs/NAME and copies what is shipped into models/NAME
  local name=$1; shift
  echo "== $name: $*"
  local t0=$SECONDS
  "$eps" "$@" --out "$runs/$name"
  echo "== $name: $((SECONDS - t0)) s in this call"
  mkdir -p "models/$name"
  for f in model.pt classifier.pt loss.csv loss.png accuracy.csv train.json; do
    [ -f "$runs/$name/$f" ] && cp "$runs/$name/$f" "models/$name/"
  done
  return 0
}

stage classifier image classifier --threads "$threads" --device "$device" --resume
stage prior image train --objective prior --steps 4000 "${run[@]}"
prior=models/prior/model.pt
stage eps_multitask image train --objective eps --init "$prior" --tasks all --steps 1000 "${finetune[@]}"
stage eps_random_inpainting image train --objective eps --init "$prior" --tasks random_inpainting --steps 500 "${finetune[@]}"
stage eps_gaussian_deblur image train --objective eps --init "$prior" --tasks gaussian_deblur --steps 500 "${finetune[@]}"
stage palette_multitask image train --objective palette --init "$prior" --tasks all --steps 1000 "${finetune[@]}"
# EPS from scratch at the budget of the prior plus its fine-tune (4000 + 500 steps; 4800 as shipped, see docs/training.md §8).
stage eps_scratch_random_inpainting image train --objective eps --from-scratch --tasks random_inpainting --steps 4800 "${run[@]}"
"$eps" image sample --model "$prior" --count 64 --steps 18 --threads "$threads" --device "$device" --out models/prior/samples.png
