#!/usr/bin/env bash
# A training run resumed from a checkpoint another LibTorch wrote (docs/testing.md, "Files across LibTorch
# versions"): with no steps left the resumed run writes the checkpoint's EMA weights as its model, which must equal
# the model file written beside the checkpoint (to the bit); then it trains two more steps.
# Usage: resume.sh EPS_BINARY FILES_DIR WORK_DIR
set -euo pipefail
eps=$1 dir=$2 work=$3
source "$(dirname "$0")/tiny_run.sh"
rm -rf "$work" && mkdir -p "$work/run"
cp "$dir/checkpoint.pt" "$work/run/checkpoint.pt"
"$eps" "${tiny_run[@]}" --steps 4 --checkpoint-every 4 --resume --out "$work/run" > "$work/resume.log"
"$eps" image compare "$work/run/model.pt" "$dir/eps.model.pt" --tol 0
"$eps" "${tiny_run[@]}" --steps 6 --checkpoint-every 2 --resume --out "$work/run" > "$work/continue.log"
grep -q '"steps": 6' "$work/run/train.json" || { echo "FAIL: the resumed run did not reach step 6"; cat "$work/run/train.json"; exit 1; }
echo "ok: resumed from $(basename "$dir")'s checkpoint, same weights, trained on to step 6"
