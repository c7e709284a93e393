#!/usr/bin/env bash
# Retrains every shipped model of the image pipeline from scratch with the recipe of docs/training.md §9 and
# copies its weights, loss log and plot into models/. Every stage resumes where it stopped (`--resume`), so the
# script can be interrupted and run again. Needs the reference program (README, first command).
# Usage: scripts/train-all.sh [--threads N] [--device cpu|cuda] [--runs DIR] [--precision fp32|bf16] [--only A,B,...]
#                             [--eps BINARY]
# --only trains just the named stages (for example --only eps_box_inpainting,eps_motion_deblur), in the script's order;
# the stages it skips must already be in models/ where a named one reads them (the prior).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 device=cpu runs=runs precision=bf16 only= eps=build/release/reference/eps
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --eps) eps=$2; shift 2 ;;
    *) echo "train-all.sh: unknown option '$1' (expected --threads N, --device D, --runs DIR, --precision P, --only A,B, --eps BINARY)" >&2; exit 2 ;;
  esac
done
stages=(classifier prior eps_multitask palette_multitask eps_random_inpainting eps_box_inpainting eps_super_resolution
  eps_gaussian_deblur eps_motion_deblur eps_random_inpainting_seed2 eps_scratch_random_inpainting
  eps_scratch_box_inpainting eps_scratch_super_resolution eps_scratch_gaussian_deblur eps_scratch_motion_deblur
  eps_scratch_multitask)
known() { [[ " ${stages[*]} " == *" $1 "* ]]; }
selected() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
for name in ${only//,/ }; do
  known "$name" || { echo "train-all.sh: unknown stage '$name' in --only (expected some of: ${stages[*]})" >&2; exit 2; }
done
[ -x "$eps" ] || { echo "train-all.sh: $eps not found; build it first (README, first command)" >&2; exit 2; }
run=(--threads "$threads" --device "$device" --precision "$precision" --checkpoint-every 500 --log-every 50 --resume)
# Fine-tunes: EDM's EMA with its 5 % ramp-up (the default) and a 30 % log-uniform share of noise levels (§9).
finetune=("${run[@]}" --lr 5e-4 --warmup 100 --sigma-uniform 0.3)

stage() {  # NAME ARGS...: trains runs/NAME and copies what is shipped into models/NAME
  local name=$1; shift
  known "$name" || { echo "train-all.sh: stage '$name' is missing from the list 'stages'" >&2; exit 2; }
  selected "$name" || return 0
  # A run begun on another machine continues from its committed checkpoint (models/partial/NAME).
  if [ ! -f "$runs/$name/checkpoint.pt" ] && [ -f "models/partial/$name/checkpoint.pt" ]; then
    mkdir -p "$runs/$name"
    cp "models/partial/$name/"* "$runs/$name/"
    echo "== $name: continuing from models/partial/$name"
  fi
  echo "== $name: $*"
  local t0=$SECONDS
  "$eps" "$@" --out "$runs/$name"
  echo "== $name: $((SECONDS - t0)) s in this call"
  mkdir -p "models/$name"
  for f in model.pt classifier.pt loss.csv loss.png accuracy.csv train.json; do
    [ -f "$runs/$name/$f" ] && cp "$runs/$name/$f" "models/$name/"
  done
  rm -rf "models/partial/$name"
  return 0
}

stage classifier image classifier --threads "$threads" --device "$device" --resume
stage prior image train --objective prior --steps 20000 "${run[@]}"
prior=models/prior/model.pt
stage eps_multitask image train --objective eps --init "$prior" --tasks all --steps 20000 "${finetune[@]}"
stage palette_multitask image train --objective palette --init "$prior" --tasks all --steps 20000 "${finetune[@]}"
for task in random_inpainting box_inpainting super_resolution gaussian_deblur motion_deblur; do
  stage "eps_$task" image train --objective eps --init "$prior" --tasks "$task" --steps 4000 "${finetune[@]}"
done
# A second training seed of one per-task model: the training noise in dB (docs/evaluation.md).
stage eps_random_inpainting_seed2 image train --objective eps --init "$prior" --tasks random_inpainting --steps 4000 \
  --seed 2 "${finetune[@]}"
# EPS from scratch at the budget of the prior plus its per-task fine-tune (20,000 + 4,000 steps), on every task.
for task in random_inpainting box_inpainting super_resolution gaussian_deblur motion_deblur; do
  stage "eps_scratch_$task" image train --objective eps --from-scratch --tasks "$task" --steps 24000 \
    --sigma-uniform 0.3 "${run[@]}"
done
# One network for the five tasks from scratch, at the five per-task runs' total budget (5 x 24,000 steps).
stage eps_scratch_multitask image train --objective eps --from-scratch --tasks all --steps 120000 \
  --sigma-uniform 0.3 "${run[@]}"
if selected prior; then
  "$eps" image sample --model "$prior" --count 64 --steps 18 --threads "$threads" --device "$device" --out models/prior/samples.png
fi
