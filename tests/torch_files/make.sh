#!/usr/bin/env bash
# Writes one LibTorch version's files for the cross-version tests (docs/testing.md, "Files across LibTorch
# versions") into tests/torch_files/libtorch-<version>/: a tiny EPS model and its training checkpoint, a tiny
# classifier, an evaluation part of that model, and TorchScript modules exported by the release's python3-torch,
# with their outputs under this LibTorch (outputs.json). Run once on each Debian release (scripts/debian-root.sh
# for the other one) after the build; the folders are committed.
# Usage: tests/torch_files/make.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
eps=$build/reference/eps tool=$build/tests/eps_torch_files
for b in "$eps" "$tool"; do [ -x "$b" ] || { echo "make.sh: $b not found; build first" >&2; exit 2; }; done
version=$(/usr/bin/python3 -c 'import torch; print(".".join(torch.__version__.split(".")[:2]))')
out=tests/torch_files/libtorch-$version
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The training run of the resume test (tests/torch_files/resume.sh uses the same arguments).
source tests/torch_files/tiny_run.sh
"$eps" "${tiny_run[@]}" --steps 4 --checkpoint-every 4 --out "$work/run" > /dev/null
"$eps" image classifier --train-subset 256 --batch 64 --epochs 1 --threads 1 --out "$work/cls" > /dev/null
"$eps" image eval --models "$work/none" --prior "$work/run/model.pt" --eps "$work/run/model.pt" --methods eps_multitask \
  --tasks super_resolution --eps-nfe 2 --images 2 --seeds 1 --batch 2 --classifier "$work/cls/classifier.pt" \
  --fd-reference 64 --fd-bootstrap 0 --no-cost --no-batch1 --no-plots --threads 1 --out "$work/eval" > /dev/null
/usr/bin/python3 tests/python/export_models.py "$work/ts" > /dev/null
rm -rf "$out"
mkdir -p "$out"
cp "$work/run/model.pt" "$out/eps.model.pt"
cp "$work/run/checkpoint.pt" "$out/checkpoint.pt"
cp "$work/cls/classifier.pt" "$out/classifier.pt"
cp "$(find "$work/eval/parts" -name "*.pt" | sort | head -n 1)" "$out/part.pt"
# TorchScript from the release's python3-torch: traced, scripted, and with the contract as an attribute.
for m in ve_x0_traced ve_x0_scripted ve_cnoise_attribute; do
  cp "$work/ts/$m.pt" "$out/$m.ts.pt"
  [ ! -f "$work/ts/$m.pt.json" ] || cp "$work/ts/$m.pt.json" "$out/$m.ts.pt.json"
done
"$tool" write "$out"
du -sh "$out"
