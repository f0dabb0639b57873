#!/usr/bin/env bash
# Benchmark this compiler against upstream componentize-py 0.25.1 (PyPI
# wheel, installed into a private venv), in one run on one machine, on three
# apps: examples/hello, examples/cli (wasi:cli/command) and
# tests/bench/stdlib (imports json, re, dataclasses, typing, datetime,
# decimal, collections, itertools). Prints one markdown table per app.
#   usage: scripts/bench.sh [N]      (N runs per measurement, default 5)
# Runs of the two tools are interleaved so that background load hits both.
# Rows:
#   cold build        one-shot CLI, empty compile cache (ours) | one-shot CLI
#   cache off         one-shot CLI, COMPONENTIZE_PY_NO_CACHE=1 (the interpreter
#                     compiled on every build)
#   cached CLI build  one-shot CLI, compile cache filled by the cold build; it
#                     holds only the interpreter's compiled code, which every
#                     WIT world shares (ours only; upstream has none)
#   warm build        2nd and later requests to one persistent worker (ours);
#                     upstream has no worker, so its one-shot CLI is the base
#   peak memory       max RSS of a cold build (/usr/bin/time); worker: VmHWM
#   size              raw and gzip -9
#   compile + inst.   Wasmtime 48, default Config for both, WASI 0.2 linker
#                     (compiler/examples/bench.rs)
#   first call / per call   a `string -> string` export, 10,000 calls
#   byte-identical    two cold builds of the same input compared with cmp
# Then the big apps (tests/bench/big/generate.py; skip with BENCH_BIG=0):
#   modules1000       app importing 1000 modules of ~40 lines, one export
#   functions1000     1000 exported functions
# rows: cold one-shot build with RAYON_NUM_THREADS=1 and =2 (Wasmtime
# compiles in parallel with rayon), size, the worker's rebuild after one
# module changed (BENCH_TOUCH), and peak RSS of 16 concurrent requests to
# one worker (bench burst).
# And pipdeps: tests/bench/pipdeps, an app using jinja2, pyyaml and dateutil
# installed with `pip install --target` (into .toolchain/bench-pipdeps once;
# skip with BENCH_PIPDEPS=0), with the same rows as the small apps.
# BENCH_CASES="hello modules1000" runs only the named apps (default: all of
# hello cli stdlib pipdeps modules1000 functions1000); BENCH_BURST=0 skips the
# burst row; BENCH_UPSTREAM_VENV names an existing venv with 0.25.1;
# BENCH_OURS / BENCH_TOOL: other builds of the compiler / the bench tool.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
[ "$runs" -ge 2 ] || { echo "N must be at least 2 (rebuilds are compared)" >&2; exit 1; }
venv=${BENCH_UPSTREAM_VENV:-$root/.toolchain/upstream-venv}
cases=${BENCH_CASES:-hello cli stdlib pipdeps modules1000 functions1000}
wants() { case " $cases " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if [ "${BENCH_PIPDEPS:-1}" = 0 ]; then cases=${cases/pipdeps/}; fi
if [ ! -x "$venv/bin/componentize-py" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q componentize-py==0.25.1
fi
deps="$root/.toolchain/bench-pipdeps"
if wants pipdeps && [ ! -d "$deps/jinja2" ]; then
  # Pure-Python packages (pyyaml's C part cannot load in the component: yaml
  # falls back to its Python code, as in upstream's build).
  rm -rf "$deps.tmp"; "$venv/bin/pip" install -q --no-compile --target "$deps.tmp" jinja2==3.1.4 pyyaml==6.0.2 python-dateutil==2.9.0.post0
  mv "$deps.tmp" "$deps"
fi
# BENCH_OURS=PATH measures that build of the compiler instead (e.g. an older
# one kept for a before/after table), BENCH_TOOL=PATH that build of
# compiler/examples/bench.rs; what is not given is built here.
targets=()
[ -n "${BENCH_OURS:-}" ] || targets+=(--bin componentize-py)
[ -n "${BENCH_TOOL:-}" ] || targets+=(--example bench)
[ ${#targets[@]} -eq 0 ] || (cd "$root" && cargo build --release --locked -q "${targets[@]}")
ours=${BENCH_OURS:-$root/target/release/componentize-py}
theirs="$venv/bin/componentize-py"
bench=${BENCH_TOOL:-$root/target/release/examples/bench}
[ -x /usr/bin/time ] || { echo "bench.sh needs /usr/bin/time (Debian package: time)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each cold build gets a new, empty compile cache (`fresh_cache`), not one
# emptied just before: ext4 looks through the inodes freed a moment ago for
# every file it creates next, which cost a cold build of ours (some 2,000
# files: the unpacked toolchain, the pyc tree) up to 2 s of system time on
# a 2-core machine (2026-12-04); a user's first build follows no such
# deletion. The folders are removed at the end, with $work.
cache_n=0
fresh_cache() {
  cache_n=$((cache_n + 1))
  export COMPONENTIZE_PY_CACHE_DIR="$work/cache-$cache_n"
}
fresh_cache

# The WASI WIT files upstream needs for the cli app (ours bundles them):
# the ones wasmtime-wasi ships, as in compiler/build.rs.
# --filter-platform: with --offline, metadata of every target's packages
# would need crates that no build here downloads (Windows-only ones).
wasi_deps=$(cd "$root" && cargo metadata --format-version 1 --offline \
  --filter-platform "$(rustc -vV | sed -n 's/^host: //p')" \
  --manifest-path compiler/Cargo.toml | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "wasmtime-wasi"))
')/src/p2/wit/deps

# setup CASE: copies of the app for each tool; sets the build arguments.
setup() {
  local case=$1
  mkdir -p "$work/$case/ours" "$work/$case/theirs" "$work/$case/out"
  case $case in
    hello)
      cp "$root/examples/hello/hello.wit" "$root/examples/hello/app.py" "$work/$case/ours/"
      cp "$root/examples/hello/hello.wit" "$root/examples/hello/app.py" "$work/$case/theirs/"
      args_ours=(-d hello.wit -w hello componentize app -p .)
      args_theirs=(-d hello.wit -w hello componentize app -p .)
      call=hello ;;
    cli)
      cp -r "$root/examples/cli/." "$work/$case/ours/"
      cp "$root/examples/cli/cli.py" "$work/$case/theirs/"
      mkdir -p "$work/$case/theirs/wit/deps"
      cp "$root/examples/cli/wit/cli.wit" "$work/$case/theirs/wit/"
      cp "$wasi_deps"/*.wit "$work/$case/theirs/wit/deps/"
      args_ours=(-d wit -w wasi:cli/command@0.2.0 componentize cli -p .)
      args_theirs=(-d wit -w cli componentize cli -p .)
      call=run ;;
    stdlib)
      cp "$root/tests/bench/stdlib/stdlib.wit" "$root/tests/bench/stdlib/app.py" "$work/$case/ours/"
      cp "$root/tests/bench/stdlib/stdlib.wit" "$root/tests/bench/stdlib/app.py" "$work/$case/theirs/"
      args_ours=(-d stdlib.wit -w stdlib componentize app -p .)
      args_theirs=(-d stdlib.wit -w stdlib componentize app -p .)
      call=summarise ;;
    pipdeps)
      for tool in ours theirs; do
        cp "$root/tests/bench/pipdeps/pipdeps.wit" "$root/tests/bench/pipdeps/app.py" "$work/$case/$tool/"
        cp -r "$deps" "$work/$case/$tool/deps"
      done
      args_ours=(-d pipdeps.wit -w pipdeps componentize app -p . -p deps)
      args_theirs=(-d pipdeps.wit -w pipdeps componentize app -p . -p deps)
      call=render ;;
  esac
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "nan")}'; }

# build CASE TOOL OUT -> "seconds maxrss_kb user_s sys_s" (outputs go outside the app's
# folder, so every build sees the same inputs)
build() {
  local case=$1 tool=$2 out=$3 bin
  local -a args
  if [ "$tool" = ours ]; then bin=$ours; args=("${args_ours[@]}"); else bin=$theirs; args=("${args_theirs[@]}"); fi
  (cd "$work/$case/$tool" && /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" \
    "$bin" "${args[@]}" -o "$out" >/dev/null 2>"$work/err.txt") \
    || { cat "$work/err.txt" >&2; exit 1; }
  cat "$work/time.txt"
}

json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])$2)" "$1"; }

for case in hello cli stdlib pipdeps; do
  wants "$case" || continue
  setup "$case"
  d="$work/$case"
  : > "$d/ours.cold"; : > "$d/theirs.cold"; : > "$d/ours.cached"; : > "$d/ours.nocache"
  for i in $(seq "$runs"); do
    COMPONENTIZE_PY_NO_CACHE=1 build "$case" ours "$d/out/ours-nocache-$i.wasm" >> "$d/ours.nocache"
    fresh_cache
    build "$case" ours "$d/out/ours-$i.wasm" >> "$d/ours.cold"
    build "$case" ours "$d/out/ours-cached-$i.wasm" >> "$d/ours.cached"
    build "$case" theirs "$d/out/theirs-$i.wasm" >> "$d/theirs.cold"
  done
  # Warm worker: runs+1 requests, the first one (cold) left out.
  fresh_cache
  (cd "$d/ours" && "$bench" worker $((runs + 1)) "$ours" "${args_ours[@]}" -o "$d/out/worker.wasm") > "$d/worker.json"
  # Load and call: runs times each, interleaved.
  : > "$d/ours.load"; : > "$d/theirs.load"
  for i in $(seq "$runs"); do
    "$bench" load "$d/out/ours-1.wasm" "$call" 10000 >> "$d/ours.load"
    "$bench" load "$d/out/theirs-1.wasm" "$call" 10000 >> "$d/theirs.load"
  done
  for tool in ours theirs; do
    gzip -9 -c "$d/out/$tool-1.wasm" | wc -c > "$d/$tool.gz"
    if cmp -s "$d/out/$tool-1.wasm" "$d/out/$tool-2.wasm"; then echo yes; else echo no; fi > "$d/$tool.same"
  done
  cmp -s "$d/out/ours-1.wasm" "$d/out/worker.wasm" && echo yes > "$d/worker.same" || echo no > "$d/worker.same"
  cmp -s "$d/out/ours-1.wasm" "$d/out/ours-cached-1.wasm" && cmp -s "$d/out/ours-1.wasm" "$d/out/ours-nocache-1.wasm" \
    && echo yes > "$d/cached.same" || echo no > "$d/cached.same"

  python3 - "$d" "$case" "$runs" <<'PY'
import json, os, statistics, sys
d, case, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def col(path, i):
    return [float(l.split()[i]) for l in open(path) if l.strip()]
def med(xs):
    return statistics.median(xs) if xs else float("nan")
def loads(path):
    # `wasi:cli/run` prints to the inherited stdout: keep the JSON lines.
    return [json.loads(l) for l in open(path) if l.startswith("{")]
o_cold, t_cold = med(col(f"{d}/ours.cold", 0)), med(col(f"{d}/theirs.cold", 0))
o_cached = med(col(f"{d}/ours.cached", 0))
o_nocache = med(col(f"{d}/ours.nocache", 0))
o_mem, t_mem = med(col(f"{d}/ours.cold", 1)), med(col(f"{d}/theirs.cold", 1))
w = json.load(open(f"{d}/worker.json"))
o_warm = med(w["times"][1:])
o_size, t_size = os.path.getsize(f"{d}/out/ours-1.wasm"), os.path.getsize(f"{d}/out/theirs-1.wasm")
o_gz, t_gz = int(open(f"{d}/ours.gz").read()), int(open(f"{d}/theirs.gz").read())
ol, tl = loads(f"{d}/ours.load"), loads(f"{d}/theirs.load")
ci = lambda ls: med([l["compile"] + l["instantiate"] for l in ls])
first = lambda ls: med([l["first_call"] for l in ls])
per = lambda ls: med([l["per_call"] for l in ls])
same = lambda n: open(f"{d}/{n}.same").read().strip()
def row(name, o, t, fmt, ratio=True):
    r = f"{o / t:.2f}" if ratio and t else ""
    print(f"| {name} | {fmt(o)} | {fmt(t)} | {r} |")
s = lambda x: f"{x:.2f} s"
ms = lambda x: f"{x * 1e3:.2f} ms"
us = lambda x: f"{x * 1e6:.2f} µs"
mb = lambda x: f"{x / 1e6:.1f} MB"
kb = lambda x: f"{x / 1024:.0f} MiB"
print(f"### {case} (median of {runs} runs)\n")
print("| | this compiler | componentize-py 0.25.1 | ours/theirs |")
print("|---|---|---|---|")
row("build, cold one-shot CLI (empty compile cache)", o_cold, t_cold, s)
cpu = lambda p: med([u + s for u, s in zip(col(p, 2), col(p, 3))])
row("CPU time (user + sys) of that build", cpu(f"{d}/ours.cold"), cpu(f"{d}/theirs.cold"), s)
row("build, one-shot CLI, compile cache off", o_nocache, t_cold, s)
row("build, one-shot CLI, compile cache warm (any world built before)", o_cached, t_cold, s)
row("build, warm (2nd+ request to one worker; upstream: one-shot CLI)", o_warm, t_cold, s)
row("peak memory, cold build (max RSS)", o_mem, t_mem, kb)
print(f"| peak memory, worker after {len(w['times'])} builds (VmHWM) | {w['peak_rss_kb'] / 1024:.0f} MiB | | |")
row("output size", o_size, t_size, mb)
row("output size, gzip -9", o_gz, t_gz, mb)
row("compile + instantiate (Wasmtime, default Config)", ci(ol), ci(tl), s)
if case != "cli":
    row("first call", first(ol), first(tl), ms)
    row("per call (mean of 10,000)", per(ol), per(tl), us)
else:
    row("`wasi:cli/run` call", first(ol), first(tl), ms)
print(f"| byte-identical rebuild | {same('ours')} (same as with cache on/off: {same('cached')}, as worker's: {same('worker')}) | {same('theirs')} | |")
print()
PY
done
# ------------------------------------------------------------- big apps
if [ "${BENCH_BIG:-1}" != 0 ]; then
  for case in modules1000 functions1000; do
    wants "$case" || continue
    d="$work/$case"
    for tool in ours theirs; do
      python3 "$root/tests/bench/big/generate.py" "${case%1000}" "$d/$tool" 1000
    done
    mkdir -p "$d/out"
    args_ours=(-d big.wit -w big componentize app -p .)
    args_theirs=(-d big.wit -w big componentize app -p .)
    : > "$d/ours.t1"; : > "$d/ours.t2"; : > "$d/theirs.cold"
    for i in $(seq "$runs"); do
      fresh_cache
      RAYON_NUM_THREADS=1 build "$case" ours "$d/out/ours-t1-$i.wasm" >> "$d/ours.t1"
      fresh_cache
      RAYON_NUM_THREADS=2 build "$case" ours "$d/out/ours-$i.wasm" >> "$d/ours.t2"
      build "$case" theirs "$d/out/theirs-$i.wasm" >> "$d/theirs.cold"
    done
    touch_file="$d/ours/app.py"
    [ "$case" = modules1000 ] && touch_file="$d/ours/mods/m0500.py"
    cp "$touch_file" "$d/touched.orig"
    (cd "$d/ours" && BENCH_TOUCH="$touch_file" "$bench" worker $((runs + 1)) "$ours" "${args_ours[@]}" -o "$d/out/worker.wasm") > "$d/worker.json"
    # The worker's last output against a one-shot build of the same edit.
    build "$case" ours "$d/out/oneshot-edited.wasm" > /dev/null
    cmp -s "$d/out/worker.wasm" "$d/out/oneshot-edited.wasm" && echo yes > "$d/worker.same" || echo no > "$d/worker.same"
    cp "$d/touched.orig" "$touch_file"
    if [ "${BENCH_BURST:-1}" != 0 ]; then
      (cd "$d/ours" && "$bench" burst 16 "$ours" "${args_ours[@]}" -o "$d/out/burst.wasm") > "$d/burst.json"
    else
      echo '{"seconds": 0, "peak_rss_kb": 0, "skipped": true}' > "$d/burst.json"
    fi
    python3 - "$d" "$case" "$runs" <<'PY'
import json, os, statistics, sys
d, case, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
col = lambda p, i: [float(l.split()[i]) for l in open(p) if l.strip()]
med = lambda xs: statistics.median(xs) if xs else float("nan")
t1, t2, th = med(col(f"{d}/ours.t1", 0)), med(col(f"{d}/ours.t2", 0)), med(col(f"{d}/theirs.cold", 0))
w = json.load(open(f"{d}/worker.json"))
b = json.load(open(f"{d}/burst.json"))
rebuild = med(w["times"][1:])
os_, ts = os.path.getsize(f"{d}/out/ours-1.wasm"), os.path.getsize(f"{d}/out/theirs-1.wasm")
print(f"### {case} (median of {runs} runs)\n")
print("| | this compiler | componentize-py 0.25.1 | ours/theirs |")
print("|---|---|---|---|")
print(f"| build, cold one-shot CLI, RAYON_NUM_THREADS=1 | {t1:.2f} s | {th:.2f} s | {t1 / th:.2f} |")
print(f"| build, cold one-shot CLI, RAYON_NUM_THREADS=2 | {t2:.2f} s | {th:.2f} s | {t2 / th:.2f} |")
cpu = lambda p: med([u + s for u, s in zip(col(p, 2), col(p, 3))])
c1, c2, cth = cpu(f"{d}/ours.t1"), cpu(f"{d}/ours.t2"), cpu(f"{d}/theirs.cold")
print(f"| CPU time (user + sys) of that build, 1 / 2 threads | {c1:.2f} s / {c2:.2f} s | {cth:.2f} s | {c1 / cth:.2f} / {c2 / cth:.2f} |")
print(f"| worker rebuild after one module changed | {rebuild:.2f} s | {th:.2f} s | {rebuild / th:.2f} |")
print(f"| worker output = one-shot output of the edited app | {open(f'{d}/worker.same').read().strip()} | | |")
print(f"| output size | {os_ / 1e6:.1f} MB | {ts / 1e6:.1f} MB | {os_ / ts:.2f} |")
if not b.get("skipped"):
    print(f"| 16 requests at once to one worker: wall time, peak RSS | {b['seconds']:.1f} s, {b['peak_rss_kb'] / 1024:.0f} MiB | | |")
print()
PY
  done
fi

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
