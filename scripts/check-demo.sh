#!/usr/bin/env bash
# Run scripts/demo.sh and check that what it prints on stdout is exactly the
# sample output the README shows under "`scripts/demo.sh` prints:" (the first
# fenced block after that line). Run by scripts/test.sh, so by CI: the README
# cannot drift from the demo. Prints the demo's wall time; ends with
# `N passed, M failed`.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/target/check-demo"
mkdir -p "$out"

# The README's block: the lines between the fences after the marker line.
awk '/^`scripts\/demo.sh` prints:/ {found=1; next}
     found && /^```/ {if (inside) exit; inside=1; next}
     inside {print}' "$root/README.md" > "$out/expected.txt"
if [ ! -s "$out/expected.txt" ]; then
  echo "check-demo: no sample output found in README.md" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

t0=$(date +%s)
status=0
bash "$root/scripts/demo.sh" > "$out/actual.txt" 2> "$out/stderr.txt" || status=$?
echo "scripts/demo.sh: exit $status, $(( $(date +%s) - t0 )) s"
if [ "$status" -ne 0 ]; then
  tail -n 30 "$out/stderr.txt" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if diff -u "$out/expected.txt" "$out/actual.txt"; then
  echo "check-demo: stdout is the README's sample output ($(wc -l < "$out/actual.txt") lines)"
  echo "1 passed, 0 failed"
else
  echo "check-demo: stdout differs from the README's sample output (- README, + demo)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
