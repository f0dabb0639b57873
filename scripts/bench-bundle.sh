#!/usr/bin/env bash
# What each `--bundle` mode costs: build time, size and start-up, against
# `--bundle imported` (what upstream componentize-py carries: only the
# modules imported while building), in one run on one machine.
#   usage: scripts/bench-bundle.sh [N]     (N runs per measurement, default 5)
# Apps:
#   hello   examples/hello (imports nothing at run time)
#   deps    tests/fixtures/deps with attrs and idna installed by
#           `pip install --target` (the wheels scripts/setup.sh fetched);
#           its first call imports attrs, which `imported` cannot do
# Rows per mode: median one-shot build with a warm compile cache; size (raw,
# gzip -9); compile + instantiate and the first call under Wasmtime 48
# (compiler/examples/bench.rs; the first call of `deps` imports attrs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
(cd "$root" && cargo build --release --locked -q --bin componentize-py --example bench)
cpy="$root/target/release/componentize-py"
bench="$root/target/release/examples/bench"
[ -f "$root/.toolchain/wheels/.done" ] || bash "$root/scripts/setup.sh" --no-compiler >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip install -q --no-index --no-deps --find-links "$root/.toolchain/wheels" \
  --require-hashes -r "$root/tests/fixtures/deps/requirements.txt" --target "$work/deps"

# app NAME DIR WIT APP CALL ARG [-p extra]
measure() {
  local name=$1 dir=$2 wit=$3 app=$4 call=$5 arg=$6; shift 6
  for mode in imported reachable all; do
    local out="$work/$name-$mode.wasm"
    (cd "$dir" && "$cpy" -q -d "$wit" componentize "$app" -p . "$@" --bundle "$mode" -o "$out")
    for _ in $(seq "$runs"); do
      local t0=$(date +%s.%N)
      (cd "$dir" && "$cpy" -q -d "$wit" componentize "$app" -p . "$@" --bundle "$mode" -o "$out")
      echo "$name $mode build $(echo "$(date +%s.%N) - $t0" | bc)"
      # `deps` with `imported`: the call fails (attrs is not in the component).
      echo "$name $mode load $("$bench" load "$out" "$call" 1 "$arg" 2>/dev/null || true)"
    done
    echo "$name $mode size $(stat -c %s "$out") $(gzip -9c "$out" | wc -c)"
  done
}
{
  measure hello "$root/examples/hello" hello.wit app hello world
  measure deps "$root/tests/fixtures/deps" deps.wit app call attrs -p "$work/deps"
} > "$work/results"

python3 - "$work/results" "$runs" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    app, mode, kind, rest = line.split(" ", 3)
    entry = rows.setdefault((app, mode), {"build": [], "load": []})
    if kind == "size":
        entry["size"], entry["gzip"] = map(int, rest.split())
    elif kind == "build":
        entry["build"].append(float(rest))
    else:
        entry["load"].append(json.loads(rest))
print(f"median of {sys.argv[2]} runs; ratio against --bundle imported\n")
for app in ("hello", "deps"):
    print(f"| {app} | imported | reachable | all |")
    print("|---|---|---|---|")
    base = rows[(app, "imported")]
    def line(label, value, fmt):
        cells = []
        for mode in ("imported", "reachable", "all"):
            entry = rows[(app, mode)]
            if any(x.get("failed") for x in entry["load"]) and label == "first call":
                cells.append("fails: ModuleNotFoundError")
                continue
            v = value(entry)
            b = None if any(x.get("failed") for x in base["load"]) and label == "first call" else value(base)
            ratio = "" if mode == "imported" or b is None else f" ({v / b:.2f})"
            cells.append(fmt(v) + ratio)
        print(f"| {label} | " + " | ".join(cells) + " |")
    med = lambda key: lambda e: statistics.median(x[key] for x in e["load"])
    line("build (warm cache)", lambda e: statistics.median(e["build"]), lambda v: f"{v:.2f} s")
    line("size", lambda e: e["size"], lambda v: f"{v / 1e6:.2f} MB")
    line("size, gzip -9", lambda e: e["gzip"], lambda v: f"{v / 1e6:.2f} MB")
    line("compile + instantiate", lambda e: statistics.median(x["compile"] + x["instantiate"] for x in e["load"]), lambda v: f"{v:.2f} s")
    line("first call", med("first_call"), lambda v: f"{v * 1e3:.2f} ms")
    print()
EOF
