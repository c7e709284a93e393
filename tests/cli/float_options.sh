#!/usr/bin/env bash
# Every floating-point option of every subcommand rejects NaN and ±inf (docs/testing.md, "Bad input"): the
# subcommands and their options are read from the program's own --help, so an option added later is covered
# without a new test. Each bad value must exit with code 2, name the option on stderr, and print nothing on
# stdout. Usage: float_options.sh EPS_BINARY
set -uo pipefail
eps=$1
checked=0 failed=0 nopt=0
# The subcommand paths, breadth first from the top-level help's "Subcommands:" sections.
paths=("")
i=0
while [ $i -lt ${#paths[@]} ]; do
  p=${paths[$i]}
  i=$((i + 1))
  # shellcheck disable=SC2086
  subs=$("$eps" $p --help 2>/dev/null | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')
  for s in $subs; do paths+=("${p:+$p }$s"); done
done
for p in "${paths[@]}"; do
  [ -z "$p" ] && continue
  # shellcheck disable=SC2086
  opts=$("$eps" $p --help 2>/dev/null | awk '$1 ~ /^-/ && $2 ~ /^FLOAT/ { n = split($1, a, ","); print a[n] }')
  for o in $opts; do
    # NaN for every option, +inf and -inf on alternate options (one validator serves them all; each start of the
    # program costs ~0.8 s of LibTorch's initialisation).
    nopt=$((nopt + 1))
    inf=inf
    [ $((nopt % 2)) -eq 0 ] && inf=-inf
    for v in nan $inf; do
      checked=$((checked + 1))
      # shellcheck disable=SC2086
      out=$(timeout 60 "$eps" $p "$o=$v" 2> /tmp/eps_float_err.$$)
      code=$?
      if [ $code -ne 2 ] || ! grep -q -- "$o" /tmp/eps_float_err.$$ || [ -n "$out" ]; then
        echo "eps $p $o=$v: exit $code, stdout '${out:0:80}', stderr: $(head -c 300 /tmp/eps_float_err.$$)"
        failed=$((failed + 1))
      fi
    done
  done
done
rm -f /tmp/eps_float_err.$$
echo "float_options: ${#paths[@]} command paths, $checked bad values tried, $failed accepted or misreported"
[ $checked -ge 36 ] || { echo "expected at least 36 checks (18 float options x 2 values), found $checked"; exit 1; }
[ $failed -eq 0 ]
