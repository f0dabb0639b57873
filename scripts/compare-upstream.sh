#!/usr/bin/env bash
# Build the hello example with this compiler and with upstream
# componentize-py 0.25.1 (PyPI wheel, in a private venv), in one run on one
# machine, and print build time (median of N runs) and output size.
#   usage: scripts/compare-upstream.sh [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
venv="$root/.toolchain/upstream-venv"
if [ ! -x "$venv/bin/componentize-py" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q componentize-py==0.25.1
fi
ours="$root/target/release/componentize-py"
theirs="$venv/bin/componentize-py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/examples/hello/hello.wit" "$root/examples/hello/app.py" "$work/"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # name binary
  local name=$1 bin=$2 times=()
  for i in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    (cd "$work" && "$bin" -d hello.wit -w hello componentize app -p . -o "$name-$i.wasm" >/dev/null 2>&1)
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${times[@]}" | median
}
t_ours=$(measure ours "$ours")
t_theirs=$(measure theirs "$theirs")
s_ours=$(stat -c %s "$work/ours-1.wasm")
s_theirs=$(stat -c %s "$work/theirs-1.wasm")
same() { cmp -s "$work/$1-1.wasm" "$work/$1-2.wasm" && echo yes || echo no; }
echo "hello example, $runs runs each, $(date -u +%Y-%m-%d), $(nproc) cores"
echo
echo "| | this compiler | componentize-py 0.25.1 | ratio |"
echo "|---|---|---|---|"
printf '| build time, median (s) | %.2f | %.2f | %.2f |\n' "$t_ours" "$t_theirs" "$(echo "$t_ours / $t_theirs" | bc -l)"
printf '| output size (MB) | %.1f | %.1f | %.2f |\n' "$(echo "$s_ours / 1000000" | bc -l)" "$(echo "$s_theirs / 1000000" | bc -l)" "$(echo "$s_ours / $s_theirs" | bc -l)"
printf '| byte-identical rebuild | %s | %s | |\n' "$(same ours)" "$(same theirs)"
