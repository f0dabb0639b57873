#!/usr/bin/env bash
# Test the Bazel rules end to end, offline, on the test monorepo
# tests/bazel/workspace:
#
#   1. Bazel 7.7.1 through scripts/bazel.sh (provisions the sid chroot once);
#   2. bzlmod: bazel build //... and bazel test //... (components, py_wasm_tests,
#      analysis tests); the expected-to-fail test must fail; `bazel aquery`
#      shows the worker execution requirements and no inherited environment;
#   3. WORKSPACE mode (--config=workspace = --noenable_bzlmod): the same, and
#      the components are byte-identical to the bzlmod ones;
#   4. determinism: two copies of the workspace at other absolute paths build
#      byte-identical components (fresh Bazel servers, no shared cache); their
#      execution log shows the Componentize spawns running as multiplex
#      workers with one @flagfile argument.
#
# Ends with a line `N passed, M failed`; exit status 0 only when M is 0.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ws="$root/tests/bazel/workspace"
bazel="$root/scripts/bazel.sh"
logs="$root/.toolchain/test-bazel-logs"
det="$root/.toolchain/bazel-det"
rm -rf "$logs" && mkdir -p "$logs"
components=(greeter/greeter.wasm geometry/geometry.wasm cli/cli.wasm)
t_start=$(date +%s)

passed=0 failed=0 failures=()
# check NAME CMD...: run CMD (output to a log), count it.
check() {
  local name=$1; shift
  local log="$logs/$(echo "$name" | tr -c 'A-Za-z0-9_.\n-' '_').log" t0=$(date +%s)
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); printf 'PASS  %-62s %4ss\n' "$name" $(( $(date +%s) - t0 ))
  else
    failed=$((failed + 1)); failures+=("$name")
    printf 'FAIL  %-62s %4ss  (log: %s)\n' "$name" $(( $(date +%s) - t0 )) "$log"
    tail -25 "$log" | sed 's/^/      /'
  fi
}

# --------------------------------------------------------------- set-up
if [ ! -x "$root/target/release/componentize-py" ] || [ ! -f "$root/.toolchain/runtime/interpreter.wasm" ]; then
  echo "== compiler or runtime missing: running scripts/setup.sh"
  bash "$root/scripts/setup.sh" || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi

echo "== Bazel (scripts/bazel.sh; provisions .toolchain/bazel-chroot on first use)"
bazel_version() { "$bazel" --version | tee /dev/stderr | grep -qx 'bazel 7.7.1'; }
check "bazel --version is 7.7.1 (provisioning included)" bazel_version

in_ws() { (cd "$1" && shift && "$bazel" "$@"); }

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
  out=$(in_ws "$ws" aquery 'mnemonic("Componentize", //...)' --output=text) || return 1
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

# ----------------------------------------------------------------- bzlmod
echo "== bzlmod (MODULE.bazel)"
check "bzlmod: bazel build //..." in_ws "$ws" build //...
check "bzlmod: bazel test //..." in_ws "$ws" test //...
check "bzlmod: expected-to-fail test fails" expect_test_failure "$ws"
check "bzlmod: aquery: worker requirements, hermetic command lines" aquery_worker
check "bzlmod: save component hashes" save_hashes "$logs/bzlmod.sha256"

# -------------------------------------------------------------- WORKSPACE
echo "== WORKSPACE (--noenable_bzlmod)"
check "WORKSPACE: bazel build //..." in_ws "$ws" build --config=workspace //...
check "WORKSPACE: bazel test //..." in_ws "$ws" test --config=workspace //...
check "WORKSPACE: expected-to-fail test fails" expect_test_failure "$ws" --config=workspace
check "WORKSPACE: save component hashes" save_hashes "$logs/workspace.sha256"
check "WORKSPACE and bzlmod components are byte-identical" same_hashes "$logs/bzlmod.sha256" "$logs/workspace.sha256"

# ------------------------------------------------------------ determinism
echo "== determinism: two copies of the workspace at different absolute paths"
rm -rf "$det"
copies=("$det/one/ws" "$det/other-place/x/ws")
copy_ws() {
  mkdir -p "$1" && tar -C "$ws" --exclude='./bazel-*' -cf - . | tar -C "$1" -xf -
}
exec_log_ok() {
  # Every Componentize spawn ran in a worker with argv [compiler, @flagfile],
  # and the workers were multiplex ones (bazel-workers/multiplex-worker-*-Componentize.log).
  local ob
  ob=$(in_ws "$2" info output_base 2>/dev/null)
  ls "$ob"/bazel-workers/multiplex-worker-*-Componentize.log || return 1
  python3 - "$1" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
dec, i, spawns = json.JSONDecoder(), 0, []
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    obj, i = dec.raw_decode(text, i)
    spawns.append(obj)
comp = [s for s in spawns if s.get("mnemonic") == "Componentize"]
print(f"{len(comp)} Componentize spawns")
ok = len(comp) == 3
for s in comp:
    args, runner = s.get("commandArgs", []), s.get("runner", "")
    print(runner, args)
    ok &= runner in ("worker", "multiplex-worker") and len(args) == 2 and args[1].startswith("@") and args[1].endswith(".params")
sys.exit(0 if ok else 1)
EOF
}
for c in "${copies[@]}"; do
  check "copy at $c" copy_ws "$c"
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

elapsed=$(( $(date +%s) - t_start ))
echo
echo "== $(( elapsed / 60 )) min $(( elapsed % 60 )) s"
[ "$failed" -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
