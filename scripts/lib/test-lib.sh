# Helpers shared by scripts/test-bazel.sh and scripts/test-remote-cache.sh.
# Sourced, not run. Before sourcing, set:
#   root  the repository (absolute, physical)
#   logs  a folder for the checks' logs (made empty here)
# Defines: check, finish (the `N passed, M failed` summary), ensure_setup,
# in_ws, copy_ws, spawns, summary, summary_only.

bazel="$root/scripts/bazel.sh"
rm -rf "$logs" && mkdir -p "$logs"
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

# finish: the elapsed time and `N passed, M failed`; status 0 only when M is 0.
finish() {
  local elapsed=$(( $(date +%s) - t_start ))
  echo
  echo "== $(( elapsed / 60 )) min $(( elapsed % 60 )) s"
  [ "$failed" -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# ensure_setup: the compiler, CPython for WASI (.toolchain/python, the default
# CPython toolchain) and setup.sh's interpreter module; runs scripts/setup.sh
# when one is missing. Exits (with a failed summary) when that fails.
ensure_setup() {
  if [ ! -x "$root/target/release/componentize-py" ] || [ ! -f "$root/.toolchain/python/.done" ] \
     || [ ! -f "$root/.toolchain/runtime/interpreter.wasm" ]; then
    echo "== compiler, CPython or runtime missing: running scripts/setup.sh"
    bash "$root/scripts/setup.sh" || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
  fi
}

# in_ws DIR ARGS...: scripts/bazel.sh ARGS... run from DIR.
in_ws() { (cd "$1" && shift && "$bazel" "$@"); }

# copy_ws SRC DEST: a copy of the workspace SRC (without its bazel-* links).
copy_ws() {
  mkdir -p "$2" && tar -C "$1" --exclude='./bazel-*' -cf - . | tar -C "$2" -xf -
}

# spawns LOG: the execution log's spawns (--execution_log_json_file), one JSON
# object per line, for python checks.
spawns() {
  python3 -c '
import json, sys
text = open(sys.argv[1]).read()
dec, i = json.JSONDecoder(), 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    obj, i = dec.raw_decode(text, i)
    print(json.dumps(obj))
' "$1"
}

# summary LOG: Bazel's "INFO: N processes: ..." line of a build's output.
summary() { grep -E '^INFO: [0-9]+ processes?: ' "$1" | tail -1; }

# summary_only LOG KIND MIN: the summary line of LOG counts at least MIN
# spawns of KIND ("disk cache hit", "remote cache hit") and no other kind but
# "internal", i.e. nothing was executed. Prints the counts.
summary_only() {
  summary "$1" | python3 -c '
import re, sys
kind, least = sys.argv[1], int(sys.argv[2])
line = sys.stdin.read().strip()
print(line)
kinds = dict((k.strip(), int(n)) for n, k in re.findall(r"(\d+) ([a-z -]+?)(?:[,.]|$)", line.split(":", 2)[2])) if line else {}
hits = kinds.pop(kind, 0)
kinds.pop("internal", None)
print(f"{kind}s: {hits} (want >= {least}); other executed spawns:", kinds or "none")
sys.exit(0 if hits >= least and not kinds else 1)
' "$2" "$3"
}

# interpreter_compiles: how many WasiCcCompile actions py_wasm_interpreter
# runs for the two interpreters: every runtime/*.c but async.c for
# interpreter.wasm, every one for interpreter-async.wasm.
interpreter_compiles() {
  echo $(( $(ls "$root"/runtime/*.c | grep -vc '/async\.c$') + $(ls "$root"/runtime/*.c | wc -l) ))
}
