#!/usr/bin/env bash
# Installs the Debian packages eps needs that are missing on this machine (nothing else), with apt-get, as
# root or through sudo, on Debian 12 (bookworm: GCC 12, LibTorch 1.13, Python 3.11) or Debian 13 (trixie:
# GCC 14, LibTorch 2.6, Python 3.13): each release's own packages. Usage: scripts/install-deps.sh [--bench] [--fuzz]
# LibTorch (libtorch-dev, CPU) comes with libopenblas0-openmp: without it LibTorch falls back to the
# reference BLAS (20-30x slower matrix products). clang-format-19 checks the sources' format (test
# format.check; Debian 12 has it as well as 13, and other versions format the same style differently); zlib reads the gzip IDX files of dataset-fashion-mnist (real Fashion-MNIST); libgloo-dev
# holds the Gloo headers that LibTorch's c10d process group includes (data-parallel training); libstb-dev's
# stb_image_write writes image grids as PNG. python3-torch (the same PyTorch as libtorch-dev, for
# /usr/bin/python3), python3-dev, pybind11-dev and python3-pytest build and test the Python package
# (python/) and export the TorchScript modules of the model tests. --fuzz adds the release's clang and its
# libFuzzer (clang-15 and libfuzzer-15-dev on Debian 12, clang-19 and libfuzzer-19-dev on Debian 13) for the
# libFuzzer build of the fuzz targets (tests/fuzz/; ctest's fuzz.libfuzzer, skipped without them).
set -euo pipefail

pkgs=(cmake g++ make pkg-config libeigen3-dev libxtensor-dev libfftw3-dev doctest-dev libcli11-dev nlohmann-json3-dev gnuplot-nox
      libtorch-dev libopenblas0-openmp libgloo-dev clang-format-19 zlib1g-dev dataset-fashion-mnist libstb-dev
      python3-torch python3-dev pybind11-dev python3-pytest)
release=$(. /etc/os-release 2> /dev/null && echo "${VERSION_CODENAME:-}")
case "$release" in
  bookworm) llvm=15 ;;
  trixie) llvm=19 ;;
  *) llvm="" ;;
esac
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(libbenchmark-dev) ;;
    --fuzz)
      [ -n "$llvm" ] || { echo "install-deps.sh: --fuzz knows the clang of Debian 12 (bookworm) and 13 (trixie), not of '${release:-this system}'" >&2; exit 2; }
      pkgs+=("clang-$llvm" "libfuzzer-$llvm-dev") ;;
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
