#!/usr/bin/env bash
# Damaged files are refused by name (docs/testing.md, "Files"): a model file, a training checkpoint, a
# classifier checkpoint and a classifier file, each with a byte flipped in the header (an entry's name), in
# the configuration (the pickled structure that holds it), in the weights, and truncated at four points. Each
# reader must exit with code 2, name the file and say "corrupt" (the entry, for a flipped byte). An evaluation
# part that fails its check is recomputed with a warning that names it.
# Usage: corrupt_files.sh EPS_BINARY IMAGE_TEST_DIR WORK_DIR
set -uo pipefail
eps=$1 img=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
failed=0 checked=0
flip() {  # FILE OFFSET: inverts the byte at OFFSET
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
offset_of() {  # FILE STRING [N]: the byte offset of the N-th occurrence (1: first) of STRING
  grep -obUa -- "$2" "$1" | sed -n "${3:-1}p" | cut -d: -f1
}
expect_corrupt() {  # WHAT FILE ENTRY_EXPECTED COMMAND...
  local what=$1 file=$2 entry=$3
  shift 3
  checked=$((checked + 1))
  local out code
  out=$("$@" 2> "$work/err.txt")
  code=$?
  if [ $code -ne 2 ] || ! grep -q "corrupt" "$work/err.txt" || ! grep -qF "$file" "$work/err.txt" ||
     { [ "$entry" = yes ] && ! grep -q "entry '" "$work/err.txt"; }; then
    echo "$what: exit $code, stderr: $(head -c 400 "$work/err.txt")"
    failed=$((failed + 1))
  fi
}
le16() {  # FILE OFFSET: the little-endian 16-bit number at OFFSET
  od -An -tu2 --endian=little -j "$2" -N2 "$1" | tr -d ' '
}
data_of() {  # FILE ENTRY: the offset of ENTRY's data (after its local header's name and extra field)
  local name lh
  name=$(offset_of "$1" "$2")
  lh=$((name - 30))
  echo $((lh + 30 + $(le16 "$1" $((lh + 26))) + $(le16 "$1" $((lh + 28)))))
}
# damage KIND SOURCE DEST: DEST is SOURCE damaged as KIND (header, config, weights, cut25, cut50, cut90, cut-1).
damage() {
  cp "$2" "$3"
  local size
  size=$(stat -c %s "$3")
  case $1 in
    header) flip "$3" 32 ;;                                         # inside the first entry's name
    config) flip "$3" $(($(offset_of "$3" "$4") + 2)) ;;             # inside the pickled configuration
    weights) flip "$3" $(($(data_of "$3" archive/data/0) + 1)) ;;    # the first tensor's bytes
    cut*) local pct=${1#cut}; if [ "$pct" = -1 ]; then truncate -s $((size - 1)) "$3"; else truncate -s $((size * pct / 100)) "$3"; fi ;;
  esac
}
kinds="header config weights cut25 cut50 cut90 cut-1"
entry_for() { case $1 in header|config|weights) echo yes ;; *) echo no ;; esac; }

# 1. A model file, read by eps image sample.
for k in $kinds; do
  f=$work/model_$k.pt
  damage "$k" "$img/linear/model.pt" "$f" '"objective"'
  expect_corrupt "model.pt ($k)" "$f" "$(entry_for "$k")" \
    "$eps" image sample --model "$f" --count 1 --steps 1 --out "$work/s.png"
done
# 2. A training checkpoint, read by eps image train --resume.
tiny=(image train --batch 4 --channels 8 --multipliers 1,2 --train-subset 64 --val-images 8 --threads 1 --no-plots
      --schedule linear --steps 8)
for k in $kinds; do
  d=$work/train_$k
  mkdir -p "$d"
  damage "$k" "$img/linear/checkpoint.pt" "$d/checkpoint.pt" '"schedule"'
  expect_corrupt "checkpoint.pt ($k)" "$d/checkpoint.pt" "$(entry_for "$k")" "$eps" "${tiny[@]}" --out "$d" --resume
done
# 3. A classifier checkpoint (eps image classifier --resume) and a classifier file (read by eps image eval).
for k in $kinds; do
  d=$work/cls_$k
  mkdir -p "$d"
  damage "$k" "$img/cls/whole/checkpoint.pt" "$d/checkpoint.pt" '"lr"'
  expect_corrupt "classifier checkpoint ($k)" "$d/checkpoint.pt" "$(entry_for "$k")" \
    "$eps" image classifier --train-subset 1024 --batch 64 --threads 1 --epochs 3 --out "$d" --resume
  damage "$k" "$img/cls/whole/classifier.pt" "$d/classifier.pt" 'format'
  expect_corrupt "classifier.pt ($k)" "$d/classifier.pt" "$(entry_for "$k")" \
    "$eps" image eval --models "$work/none" --prior "$img/linear/model.pt" --classifier "$d/classifier.pt" \
    --methods pinv --tasks box_inpainting --images 1 --seeds 1 --fd-reference 8 --no-cost --no-plots --out "$work/ev_$k"
done
# 4. An evaluation part that fails its check: recomputed, with a warning that names the file.
ev=(image eval --models "$work/none" --prior "$img/linear/model.pt" --classifier "$img/cls/whole/classifier.pt"
    --methods prior --prior-nfe 2 --tasks box_inpainting --images 2 --seeds 1 --fd-reference 8 --no-cost --no-plots
    --threads 1 --out "$work/ev")
"$eps" "${ev[@]}" > "$work/ev1.txt" 2>&1 || { echo "the evaluation did not run"; cat "$work/ev1.txt"; exit 1; }
part=$(ls "$work"/ev/parts/test/box_inpainting/prior@2.pt)
flip "$part" $(($(stat -c %s "$part") / 2))
"$eps" "${ev[@]}" > "$work/ev2.txt" 2>&1
checked=$((checked + 1))
if ! grep -q "ignoring unreadable '$part'.*corrupt file (entry '" "$work/ev2.txt" || ! grep -q "^1 method runs computed" "$work/ev2.txt"; then
  echo "damaged part: not recomputed with a warning"; cat "$work/ev2.txt"; failed=$((failed + 1))
fi
diff <(grep "^| prior@2" "$work/ev1.txt" | cut -d'|' -f1-9) <(grep "^| prior@2" "$work/ev2.txt" | cut -d'|' -f1-9) ||
  { echo "the recomputed part gave other metrics"; failed=$((failed + 1)); }
echo "corrupt_files: $checked damaged files tried, $failed accepted or misreported"
[ $failed -eq 0 ]
