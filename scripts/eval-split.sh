#!/usr/bin/env bash
# `eps image eval` over several processes (docs/evaluation.md §4): the tasks are dealt round-robin to --jobs
# processes, each with its own output directory under OUT/split/, whose samples (parts/) are then gathered into
# OUT/parts/; a last run of the same command on every task assembles the tables, grids, plots and the cost
# comparison from those cached parts. A part's key depends on the method, the data, the knobs and --threads,
# not on --tasks or --out, so the result is the one a single process would write. Run it again to resume:
# every finished part (in OUT/split/ or OUT/parts/) is reused.
# Usage: scripts/eval-split.sh [--jobs N] [--binary EPS_BINARY] EVAL_OPTIONS...
#   EVAL_OPTIONS are `eps image eval`'s (--out, default runs/eval; --tasks, default all; --threads should be 1
#   per process, so that N processes use N cores).
set -euo pipefail
# Paths (the binary's default aside) are read as `eps image eval` reads them: from the working directory.
jobs=2 eps=$(dirname "$0")/../build/release/reference/eps out=runs/eval tasks=all args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --binary) eps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --tasks) tasks=$2; shift 2 ;;
    --tasks=*) tasks=${1#--tasks=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "eval-split.sh: --jobs '$jobs' is not a positive integer" >&2; exit 2; }
[ -x "$eps" ] || { echo "eval-split.sh: $eps not found; build it first (README, first command)" >&2; exit 2; }
[ "$tasks" = all ] && tasks=random_inpainting,box_inpainting,super_resolution,gaussian_deblur,motion_deblur
IFS=, read -r -a list <<< "$tasks"
[ "${#list[@]}" -gt 0 ] || { echo "eval-split.sh: --tasks is empty" >&2; exit 2; }
[ "$jobs" -le "${#list[@]}" ] || jobs=${#list[@]}

link_tree() {  # SRC DEST: every file under SRC at the same place under DEST (a hard link, else an atomic copy)
  [ -d "$1" ] || return 0
  local f dest
  while IFS= read -r -d '' f; do
    dest=$2/${f#"$1"/}
    [ "$f" -ef "$dest" ] && continue
    mkdir -p "$(dirname "$dest")"
    ln -f "$f" "$dest" 2> /dev/null || { cp -p "$f" "$dest.tmp" && mv -f "$dest.tmp" "$dest"; }
  done < <(find "$1" -type f ! -name '*.tmp' -print0)
}
mkdir -p "$out/split" "$out/parts"
pids=()
for ((j = 0; j < jobs; ++j)); do
  mine=()
  for ((i = j; i < ${#list[@]}; i += jobs)); do mine+=("${list[i]}"); done
  share=$(IFS=,; echo "${mine[*]}")
  echo "eval-split.sh: process $j: --tasks $share (log $out/split/$j.log)"
  link_tree "$out/parts" "$out/split/$j/parts"  # what an earlier run of OUT already computed is reused
  # The per-process run needs only the samples: the cost comparison and the figures come from the last run.
  "$eps" image eval "${args[@]}" --no-cost --no-plots --tasks "$share" --out "$out/split/$j" > "$out/split/$j.log" 2>&1 &
  pids+=($!)
done
failed=0
for ((j = 0; j < jobs; ++j)); do
  wait "${pids[j]}" || { echo "eval-split.sh: process $j failed; its log, $out/split/$j.log, ends:" >&2
                          tail -5 "$out/split/$j.log" >&2; failed=1; }
done
[ "$failed" = 0 ] || exit 1
for ((j = 0; j < jobs; ++j)); do link_tree "$out/split/$j/parts" "$out/parts"; done
echo "eval-split.sh: assembling $out from $(find "$out/parts" -type f | wc -l) parts"
exec "$eps" image eval "${args[@]}" --tasks "$tasks" --out "$out"
