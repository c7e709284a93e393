#!/usr/bin/env bash
# Installs the Debian 12 packages eps needs that are missing on this machine (nothing else), with
# apt-get, as root or through sudo. Usage: scripts/install-deps.sh [--bench] [--fuzz]
# LibTorch (libtorch-dev, CPU) comes with libopenblas0-openmp: without it LibTorch falls back to the
# reference BLAS (20-30x slower matrix products). clang-format checks the sources' format (test
# format.check); zlib reads the gzip IDX files of dataset-fashion-mnist (real Fashion-MNIST); libgloo-dev
# holds the Gloo headers that LibTorch's c10d process group includes (data-parallel training); libstb-dev's
# stb_image_write writes image grids as PNG. python3-torch (the same PyTorch 1.13 as libtorch-dev, for
# /usr/bin/python3), python3-dev, pybind11-dev and python3-pytest build and test the Python package
# (python/) and export the TorchScript modules of the model tests. --fuzz adds clang-15 and libfuzzer-15-dev for
# the libFuzzer build of the fuzz targets (tests/fuzz/; ctest's fuzz.libfuzzer, skipped without them).
set -euo pipefail

pkgs=(cmake g++ make pkg-config libeigen3-dev libxtensor-dev libfftw3-dev doctest-dev libcli11-dev nlohmann-json3-dev gnuplot-nox
      libtorch-dev libopenblas0-openmp libgloo-dev clang-format zlib1g-dev dataset-fashion-mnist libstb-dev
      python3-torch python3-dev pybind11-dev python3-pytest)
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(libbenchmark-dev) ;;
    --fuzz) pkgs+=(clang-15 libfuzzer-15-dev) ;;
    *) echo "install-deps.sh: unknown option '$arg' (expected --bench or --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
