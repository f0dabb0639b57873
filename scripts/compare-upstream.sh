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
# Each tool gets its own copy of the app (upstream may write into it).
mkdir -p "$work/ours" "$work/theirs" "$work/out"
cp "$root/examples/hello/hello.wit" "$root/examples/hello/app.py" "$work/ours/"
cp "$root/examples/hello/hello.wit" "$root/examples/hello/app.py" "$work/theirs/"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
build() { # name binary run -> seconds
  local start end
  start=$(date +%s.%N)
  # Outputs go outside the app's folder, so every build sees the same inputs.
  (cd "$work/$1" && "$2" -d hello.wit -w hello componentize app -p . -o "$work/out/$1-$3.wasm" >/dev/null 2>&1)
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}
# Interleave the two tools so that background load affects both alike.
: > "$work/ours.times"; : > "$work/theirs.times"
for i in $(seq "$runs"); do
  build ours "$ours" "$i" >> "$work/ours.times"
  build theirs "$theirs" "$i" >> "$work/theirs.times"
done
t_ours=$(median < "$work/ours.times")
t_theirs=$(median < "$work/theirs.times")
s_ours=$(stat -c %s "$work/out/ours-1.wasm")
s_theirs=$(stat -c %s "$work/out/theirs-1.wasm")
same() { cmp -s "$work/out/$1-1.wasm" "$work/out/$1-2.wasm" && echo yes || echo no; }
echo "hello example, $runs runs each, $(date -u +%Y-%m-%d), $(nproc) cores"
echo
echo "| | this compiler | componentize-py 0.25.1 | ratio |"
echo "|---|---|---|---|"
python3 - "$t_ours" "$t_theirs" "$s_ours" "$s_theirs" <<'PY'
import sys
t_o, t_t, s_o, s_t = map(float, sys.argv[1:])
print(f"| build time, median (s) | {t_o:.2f} | {t_t:.2f} | {t_o / t_t:.2f} |")
print(f"| output size (MB) | {s_o / 1e6:.1f} | {s_t / 1e6:.1f} | {s_o / s_t:.2f} |")
PY
printf '| byte-identical rebuild | %s | %s | |\n' "$(same ours)" "$(same theirs)"
