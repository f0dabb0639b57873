#!/usr/bin/env bash
# Test the Bazel rules under real remote execution (README.md, "Remote
# execution"):
#
#   1. the service: BuildGrid (PyPI buildgrid==0.4.4, in a project-local venv
#      under .toolchain/buildgrid-venv) on 127.0.0.1 at a free port, with its
#      config written here: in-memory CAS and action cache, its scheduler in a
#      PostgreSQL database (BuildGrid 0.4 accepts no other) run from Debian's
#      postgresql package in a temp folder, on another free loopback port;
#   2. the executors: two bots, each a buildbox-worker + its own
#      buildbox-casd, running actions with buildbox-run-hosttools (Debian
#      sid's buildbox package, installed into scripts/bazel.sh's sid chroot,
#      which is also the executors' image: clang-19 and lld-19's shared
#      libraries, /bin/bash for test actions);
#   3. a copy of tests/bazel/workspace runs `bazel test //...` with
#      --remote_executor: the execution log shows every WasiCcCompile,
#      WasiLink, Componentize and test spawn on the `remote` runner, none
#      local, both bots ran some; every test passes; the components are
#      byte-identical to a local build's (another copy, no remote flags,
#      built first; or $TEST_REMOTE_EXEC_LOCAL_SHA256, see local_build);
#      the Componentize spawns read only declared inputs (the compiler, the
#      interpreter module and the stdlib are among them; no command line
#      holds an absolute path);
#   4. `bazel clean`, then the same: nothing executes (all remote cache hits);
#   5. an exception at import in an extra target (written here) fails the
#      build with the Python traceback in Bazel's output; the failed action
#      has no result in BuildGrid's action cache, and runs (and fails) again.
#
# Stops everything it started (trap on EXIT). Ends with `N passed, M failed`;
# exit status 0 only when M is 0.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ws="$root/tests/bazel/workspace"
logs="$root/.toolchain/test-remote-exec-logs"
rx="$root/.toolchain/test-remote-exec"
chroot_dir="$root/.toolchain/bazel-chroot"
venv="$root/.toolchain/buildgrid-venv"
buildgrid_version=0.4.4
bots=2
# check, finish, ensure_setup, in_ws, copy_ws, spawns, summary, summary_only
. "$root/scripts/lib/test-lib.sh"

ensure_setup
rm -rf "$rx" && mkdir -p "$rx"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_port PORT SECONDS: until something accepts connections on 127.0.0.1:PORT.
wait_port() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + limit
while time.monotonic() < end:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.25)
sys.exit(1)
EOF
}

# in_chroot CMD...: run CMD in scripts/bazel.sh's sid chroot, in a private
# mount namespace with /proc, /dev and the repository (same absolute path)
# mounted, as scripts/bazel.sh does; nothing is mounted on the host.
in_chroot() {
  unshare --mount --propagation private -- /bin/bash -c '
    set -e
    dir=$1 root=$2; shift 2
    mount -t proc proc "$dir/proc"
    mount --rbind /dev "$dir/dev"
    mkdir -p "$dir$root"
    mount --rbind "$root" "$dir$root"
    exec chroot "$dir" "$@"
  ' in_chroot "$chroot_dir" "$root" "$@"
}

# ------------------------------------------------------------ provisioning
provision() {
  # The chroot (scripts/bazel.sh provisions it on first use).
  "$bazel" --version || return 1
  # buildbox, from Debian sid, into the chroot.
  if [ ! -x "$chroot_dir/usr/bin/buildbox-worker" ]; then
    echo "installing buildbox into the chroot (apt-get)"
    in_chroot /usr/bin/env DEBIAN_FRONTEND=noninteractive /bin/sh -c \
      'o="-o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false"; apt-get $o update -qq && apt-get $o install -y -qq --no-install-recommends buildbox && apt-get clean' \
      || return 1
  fi
  in_chroot /usr/bin/buildbox-worker --version || return 1
  # PostgreSQL on the host: BuildGrid's scheduler database.
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing postgresql (apt-get)"
    # Its postinst must not start a system service: deny every start.
    local policy=/usr/sbin/policy-rc.d own_policy= status=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } \
      || status=1
    [ -z "$own_policy" ] || rm -f "$policy"
    [ $status -eq 0 ] || return 1
  fi
  # BuildGrid, from PyPI, into a venv of its own.
  if [ "$(cat "$venv/.done" 2>/dev/null)" != "$buildgrid_version" ]; then
    echo "installing buildgrid[database]==$buildgrid_version into $venv (pip)"
    rm -rf "$venv"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q "buildgrid[database]==$buildgrid_version" || return 1
    echo "$buildgrid_version" > "$venv/.done"
  fi
  "$venv/bin/bgd" --help >/dev/null
}

# ------------------------------------------------------------- PostgreSQL
# In a temp folder of its own, not under the checkout: the server runs as
# the postgres user, who cannot enter a checkout in a private folder (a
# home folder or `mktemp -d`, mode 0700).
pg=$(mktemp -d "${TMPDIR:-/tmp}/test-remote-exec-postgres.XXXXXX")
pg_port=
pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1; }
start_postgres() {
  local bin; bin=$(pg_bin)
  pg_port=$(free_port)
  # PostgreSQL refuses to run as root: its own folder, as the postgres user.
  id postgres >/dev/null 2>&1 || { echo "no postgres user (the postgresql package makes it)"; return 1; }
  mkdir -p "$pg" && chown postgres: "$pg" || return 1
  runuser -u postgres -- "$bin/initdb" -D "$pg/data" -A trust -U bgd -E UTF8 --no-sync >"$pg/initdb.log" 2>&1 \
    || { cat "$pg/initdb.log"; return 1; }
  runuser -u postgres -- "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg -c fsync=off" start || { cat "$pg/server.log"; return 1; }
  runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U bgd bgd || return 1
  "$venv/bin/bgd" migrate apply "postgresql+psycopg2://bgd@127.0.0.1:$pg_port/bgd" || return 1
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $NF}') on 127.0.0.1:$pg_port, pid $(head -1 "$pg/data/postmaster.pid")"
}
stop_postgres() {
  [ -f "$pg/data/postmaster.pid" ] || return 0
  # From "$pg": runuser keeps the working folder, which the postgres user
  # may not be allowed to enter (a checkout in a private folder).
  (cd "$pg" && runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$pg/data" -m fast -w -t 30 stop >/dev/null)
}

# --------------------------------------------------------------- BuildGrid
bg="$rx/buildgrid"
port=
bgd_pid=
start_buildgrid() {
  mkdir -p "$bg"
  port=$(free_port)
  cat > "$bg/bgd.yml" <<EOF
# Written by scripts/test-remote-exec.sh: one instance ("") serving the REAPI
# execution, action cache, CAS and ByteStream services and the bots' Remote
# Workers API, on loopback, without authentication.
server:
  - !channel
    address: "127.0.0.1:$port"
    insecure-mode: true
authorization:
  method: none
# gRPC's limit of concurrent calls (default: 5 per core) counts the bots'
# long polls and Bazel's uploads and Execute streams alike.
thread-pool-size: 256
connections:
  # SQLAlchemy 2.1's default PostgreSQL driver (psycopg 3) lacks the poll()
  # BuildGrid's notifier calls: psycopg2, by name.
  - !sql-connection &sql
    connection-string: postgresql+psycopg2://bgd@127.0.0.1:$pg_port/bgd
    pool-size: 5
    max-overflow: 10
storages:
  - !lru-storage &cas
    size: 2048M
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 10000
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    storage: *cas
    action-cache: *ac
    poll-interval: 0.5
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *scheduler
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
EOF
  (cd "$bg" && exec setsid "$venv/bin/bgd" server start "$bg/bgd.yml" >"$bg/bgd.log" 2>&1) &
  bgd_pid=$!
  # On a busy 2-core machine it takes up to half a minute to listen.
  wait_port "$port" 120 || { tail -30 "$bg/bgd.log"; return 1; }
  kill -0 "$bgd_pid" || return 1
  echo "BuildGrid $buildgrid_version pid $bgd_pid, grpc://127.0.0.1:$port"
}
stop_buildgrid() {
  [ -n "$bgd_pid" ] || return 0
  kill "$bgd_pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$bgd_pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$bgd_pid" 2>/dev/null
}

# ------------------------------------------------------------------- bots
bd="$rx/bots"
bots_pid=
start_bots() {
  mkdir -p "$bd"
  # Runs inside the chroot: per bot a buildbox-casd (its local CAS, a proxy
  # of BuildGrid's) and a buildbox-worker that runs each lease with
  # buildbox-run-hosttools in a folder staged from casd by hard links.
  cat > "$bd/bots.sh" <<'EOF'
#!/bin/bash
dir=$1 port=$2 n=$3
for i in $(seq "$n"); do
  d=$dir/bot-$i; mkdir -p "$d/cache" "$d/work"
  buildbox-casd --cas-remote="http://127.0.0.1:$port" --bind="unix:$d/casd.sock" \
    --log-level=warning "$d/cache" >"$d/casd.log" 2>&1 &
  echo $! > "$d/casd.pid"
done
for i in $(seq "$n"); do
  d=$dir/bot-$i
  for _ in $(seq 200); do [ -S "$d/casd.sock" ] && break; sleep 0.1; done
  buildbox-worker --bots-remote="http://127.0.0.1:$port" --cas-remote="unix:$d/casd.sock" \
    --buildbox-run=/usr/bin/buildbox-run-hosttools \
    --runner-arg=--staging-mode=copy-or-link --runner-arg=--workspace-path="$d/work" \
    --platform OSFamily=linux --platform ISA=x86-64 --max-wait-time=5 \
    "bot-$i" >"$d/worker.log" 2>&1 &
  echo $! > "$d/worker.pid"
done
wait
EOF
  (exec setsid bash -c "$(declare -f in_chroot); chroot_dir='$chroot_dir' root='$root'; in_chroot /bin/bash '$bd/bots.sh' '$bd' '$port' '$bots'" >"$bd/bots.log" 2>&1) &
  bots_pid=$!
  # Each worker says so once it has a bot session.
  local i ok
  for _ in $(seq 120); do
    ok=0
    for i in $(seq "$bots"); do
      grep -q 'Starting buildbox-worker' "$bd/bot-$i/worker.log" 2>/dev/null && ok=$((ok + 1))
    done
    [ "$ok" -eq "$bots" ] && break
    sleep 0.5
  done
  for i in $(seq "$bots"); do
    echo "bot-$i: buildbox-worker pid $(cat "$bd/bot-$i/worker.pid" 2>/dev/null), buildbox-casd pid $(cat "$bd/bot-$i/casd.pid" 2>/dev/null)"
  done
  [ "$ok" -eq "$bots" ] || { tail -5 "$bd"/bot-*/worker.log; return 1; }
  # Still alive a moment later (a worker exits when it cannot reach the bots service).
  sleep 2
  for i in $(seq "$bots"); do kill -0 "$(cat "$bd/bot-$i/worker.pid")" || return 1; done
}
stop_bots() {
  [ -n "$bots_pid" ] || return 0
  local f
  for f in "$bd"/bot-*/worker.pid "$bd"/bot-*/casd.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  for _ in $(seq 100); do kill -0 "$bots_pid" 2>/dev/null || return 0; sleep 0.1; done
  for f in "$bd"/bot-*/worker.pid "$bd"/bot-*/casd.pid; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
}
# jobs_of I: the leases bot I ran.
jobs_of() { grep -c 'Runner exited with code' "$bd/bot-$1/worker.log" 2>/dev/null; }

# --------------------------------------------------------------- the builds
remote_ws="$rx/remote/workspace"
local_ws="$rx/local/workspace"
remote_ob="$rx/remote/output_base"
local_ob="$rx/local/output_base"
# README.md's "Remote execution" flags.
remote_flags() {
  echo "--remote_executor=grpc://127.0.0.1:$port --jobs=8 --remote_timeout=300"
}
# on_remote CMD ARGS...: scripts/bazel.sh CMD ARGS... in the remote copy.
on_remote() {
  local cmd=$1; shift
  # shellcheck disable=SC2046  # the flags are words
  (cd "$remote_ws" && "$bazel" --output_base="$remote_ob" "$cmd" $(remote_flags) "$@")
}
# run_logged NAME CMD ARGS...: on_remote with an execution log, output in
# $logs/NAME.log; prints the summary line and the wall time.
run_logged() {
  local name=$1 cmd=$2 t0=$(date +%s) status; shift 2
  on_remote "$cmd" --execution_log_json_file="$logs/$name.exec.json" "$@" >"$logs/$name.log" 2>&1
  status=$?
  echo "$(( $(date +%s) - t0 ))" > "$logs/$name.seconds"
  echo "bazel $cmd $* (remote) -> exit $status in $(cat "$logs/$name.seconds") s"
  echo "  $(summary "$logs/$name.log")"
  return $status
}

components=(greeter/greeter.wasm geometry/geometry.wasm cli/cli.wasm asyncs/asyncs.wasm)
component_targets=(//greeter:greeter //geometry:geometry //cli:cli //asyncs:asyncs)
n_c=$(interpreter_compiles)
n_comp=${#components[@]}

# TEST_REMOTE_EXEC_LOCAL_SHA256=FILE: the reference is FILE, the sha256sum
# lines of a local build of the same workspace's components (scripts/test.sh
# passes scripts/test-bazel.sh's, built just before, and saves CI this build).
local_build() {
  if [ -n "${TEST_REMOTE_EXEC_LOCAL_SHA256:-}" ]; then
    echo "reference: $TEST_REMOTE_EXEC_LOCAL_SHA256 (a local build of the same workspace)"
    cp "$TEST_REMOTE_EXEC_LOCAL_SHA256" "$logs/local.sha256" && cat "$logs/local.sha256" || return 1
    [ "$(awk '{print $2}' "$logs/local.sha256" | tr '\n' ' ')" = "${components[*]} " ]
    return
  fi
  copy_ws "$ws" "$local_ws" || return 1
  local t0=$(date +%s) status
  # Only what the comparison needs (CI time): the interpreter, the components.
  (cd "$local_ws" && "$bazel" --output_base="$local_ob" build "${component_targets[@]}") >"$logs/local.log" 2>&1
  status=$?
  echo "$(( $(date +%s) - t0 ))" > "$logs/local.seconds"
  echo "bazel build ${component_targets[*]} (local) -> exit $status in $(cat "$logs/local.seconds") s"
  echo "  $(summary "$logs/local.log")"
  (cd "$local_ws" && "$bazel" --output_base="$local_ob" shutdown) >/dev/null 2>&1
  [ $status -eq 0 ] && (cd "$local_ws/bazel-bin" && sha256sum "${components[@]}") > "$logs/local.sha256"
}

remote_build() {
  copy_ws "$ws" "$remote_ws" || return 1
  run_logged remote test //...
}

# all_remote NAME: every spawn of NAME's execution log ran on the remote
# runner (no cache hit, no local, worker or sandboxed spawn); prints the
# counts per mnemonic and checks those of the interpreter, the components
# and the tests.
all_remote() {
  summary_only "$logs/$1.log" remote "$((n_c + 2 + n_comp + 3))" || return 1
  spawns "$logs/$1.exec.json" | python3 -c '
import collections, json, sys
n_c, n_comp = int(sys.argv[1]), int(sys.argv[2])
runners, ran = collections.Counter(), collections.Counter()
bad = []
for s in map(json.loads, sys.stdin):
    m, r = s.get("mnemonic", "?"), s.get("runner", "?")
    runners[r] += 1
    if r == "remote" and not s.get("cacheHit"):
        ran[m] += 1
    else:
        bad.append((m, s.get("targetLabel"), r, s.get("cacheHit", False)))
print("spawns by runner:", dict(runners))
print("executed remotely by mnemonic:", dict(ran))
for b in bad:
    print("not executed remotely:", b)
want = {"WasiCcCompile": n_c, "WasiLink": 2, "Componentize": n_comp}
ok = not bad and all(ran[m] == n for m, n in want.items()) and ran["TestRunner"] >= 3
print("want", want, "and TestRunner >= 3:", "ok" if ok else "NO")
sys.exit(0 if ok else 1)
' "$n_c" "$n_comp"
}

tests_pass() {
  local all passed
  grep -E '^//[^ ]+ +' "$logs/remote.log"
  all=$(grep -cE '^//[^ ]+ +' "$logs/remote.log")
  passed=$(grep -cE '^//[^ ]+ +PASSED' "$logs/remote.log")
  echo "tests: $passed of $all PASSED"
  [ "$all" -ge 3 ] && [ "$all" -eq "$passed" ]
}

bots_shared() {
  local i n ok=0
  for i in $(seq "$bots"); do
    n=$(jobs_of "$i"); echo "bot-$i ran $n actions"
    [ "$n" -gt 0 ] && ok=$((ok + 1))
  done
  [ "$ok" -eq "$bots" ]
}

same_as_local() {
  (cd "$remote_ws/bazel-bin" && sha256sum "${components[@]}") > "$logs/remote.sha256" || return 1
  cat "$logs/remote.sha256"
  cmp "$logs/local.sha256" "$logs/remote.sha256" && echo "identical to the local build's"
}

# declared_inputs: the Componentize spawns' inputs hold the compiler, the
# interpreter module and the stdlib; no remote spawn's command line or
# environment names an absolute path; Componentize ran one-shot with its
# @flagfile (no worker on an executor).
declared_inputs() {
  spawns "$logs/remote.exec.json" | python3 -c '
import json, sys
ok, n = True, 0
for s in map(json.loads, sys.stdin):
    args = s.get("commandArgs", [])
    env = {e["name"]: e["value"] for e in s.get("environmentVariables", [])}
    # (a label, //pkg:name, is not a path)
    is_abs = lambda v: v.startswith("/") and not v.startswith("//")
    absolute = [a for a in args if is_abs(a)]
    absolute += [f"{k}={v}" for k, v in env.items() if k != "PATH" and is_abs(v)]
    if absolute:
        ok = False
        print("absolute path in", s.get("mnemonic"), s.get("targetLabel"), absolute)
    if s.get("mnemonic") != "Componentize":
        continue
    n += 1
    inputs = [i["path"] for i in s.get("inputs", [])]
    have = {
        "compiler": any(p.endswith("/bin/componentize-py") for p in inputs),
        "interpreter": any(p.endswith("/runtime/interpreter.wasm") for p in inputs),
        "async interpreter": any(p.endswith("/runtime/interpreter-async.wasm") for p in inputs),
        "stdlib": any(p.endswith("/python/lib/python3.11/os.py") for p in inputs),
        "one-shot @flagfile": args[0].endswith("componentize-py") and len(args) == 2 and args[1].startswith("@"),
    }
    print(s.get("targetLabel"), f"{len(inputs)} inputs;", have, args)
    ok &= all(have.values())
sys.exit(0 if ok and n == int(sys.argv[1]) else 1)
' "$n_comp"
}

second_build_hits() {
  on_remote clean >/dev/null 2>&1 || return 1
  run_logged remote-again test //... || return 1
  summary_only "$logs/remote-again.log" "remote cache hit" "$((n_c + 1 + 3 + 3))" || return 1
  local cached all
  all=$(grep -cE '^//[^ ]+ +' "$logs/remote-again.log")
  cached=$(grep -cE '^//[^ ]+ +\(cached\) PASSED' "$logs/remote-again.log")
  echo "tests: $cached of $all (cached) PASSED"
  [ "$all" -eq "$cached" ]
}

# An extra target, only in the remote copy: an app that raises at import.
add_broken() {
  mkdir -p "$remote_ws/broken"
  cat > "$remote_ws/broken/BUILD.bazel" <<'EOF'
load("@rules_componentize_py//rules:defs.bzl", "py_wasm_component")

# Written by scripts/test-remote-exec.sh: fails at build time (import).
py_wasm_component(
    name = "broken",
    srcs = ["broken.py"],
    wit = "//wit:apps",
    world = "geometry",
)
EOF
  printf 'def manhattan(p):\n    return 0\n\nraise RuntimeError("broken on purpose by scripts/test-remote-exec.sh")\n' \
    > "$remote_ws/broken/broken.py"
}
# failing_build NAME: the broken target fails remotely, with the traceback,
# and its action has no result in BuildGrid's action cache.
failing_build() {
  local name=$1 status row digest
  run_logged "$name" build //broken:broken
  status=$?
  echo "want exit 1 (the build failed): $status"
  [ "$status" -eq 1 ] || return 1
  grep -B2 -A12 'Traceback' "$logs/$name.log" | head -30
  grep -q 'Traceback (most recent call last)' "$logs/$name.log" \
    && grep -q 'RuntimeError: broken on purpose' "$logs/$name.log" || { echo "no Python traceback in the output"; return 1; }
  row=$(spawns "$logs/$name.exec.json" | python3 -c '
import json, sys
for s in map(json.loads, sys.stdin):
    if s.get("mnemonic") == "Componentize" and s.get("targetLabel") == "//broken:broken":
        d = s.get("digest", {})
        print(s.get("runner"), s.get("cacheHit", False), s.get("exitCode", 0), d.get("hash"), d.get("sizeBytes"))
')
  echo "Componentize //broken:broken: runner, cache hit, exit code, action digest: $row"
  set -- $row
  [ "${1:-}" = remote ] && [ "${2:-}" = False ] && [ "${3:-0}" != 0 ] || return 1
  digest="$4/$5"
  echo "$digest" > "$logs/$name.digest"
  # No action result under that digest ("Miss:"), where a successful
  # Componentize of the first build has one ("Hit:").
  local out ok
  ok=$(spawns "$logs/remote.exec.json" | python3 -c '
import json, sys
for s in map(json.loads, sys.stdin):
    if s.get("mnemonic") == "Componentize" and s.get("targetLabel") == "//greeter:greeter":
        print(s["digest"]["hash"] + "/" + str(s["digest"]["sizeBytes"]))
')
  out=$(ac_get "$ok"); echo "bgd actioncache get (//greeter:greeter's Componentize): $out"
  echo "$out" | grep -q '^Hit:' || return 1
  out=$(ac_get "$digest"); echo "bgd actioncache get (//broken:broken's Componentize): $out"
  echo "$out" | grep -q '^Miss:'
}
ac_get() { "$venv/bin/bgd" actioncache --remote "http://127.0.0.1:$port" get "$1" 2>&1 | tail -1; }
same_key() {
  echo "$1: $(cat "$logs/$1.digest")"; echo "$2: $(cat "$logs/$2.digest")"
  cmp -s "$logs/$1.digest" "$logs/$2.digest"
}

cleanup() {
  local t0=$(date +%s)
  [ -d "$remote_ob" ] && (cd "$remote_ws" 2>/dev/null && BAZEL_SH_QUIET=1 "$bazel" --output_base="$remote_ob" shutdown >/dev/null 2>&1)
  [ -d "$local_ob" ] && (cd "$local_ws" 2>/dev/null && BAZEL_SH_QUIET=1 "$bazel" --output_base="$local_ob" shutdown >/dev/null 2>&1)
  stop_bots; stop_buildgrid; stop_postgres
  # What each bot ran, for the logs.
  for i in $(seq "$bots"); do [ -f "$bd/bot-$i/worker.log" ] && cp "$bd/bot-$i/worker.log" "$logs/bot-$i.worker.log"; done
  cp "$bg/bgd.log" "$logs/bgd.log" 2>/dev/null
  rm -rf "$rx" "$pg"
  echo "cleanup: Bazel servers, bots, BuildGrid and PostgreSQL stopped, $rx and $pg removed at +$(( $(date +%s) - t0 )) s"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== provisioning: buildbox (sid chroot), PostgreSQL, BuildGrid $buildgrid_version (venv)"
check "provision buildbox, PostgreSQL and BuildGrid" provision
[ "$failed" -eq 0 ] || { finish; exit 1; }

echo "== the service and its executors"
check "PostgreSQL on 127.0.0.1 (BuildGrid's scheduler database)" start_postgres
[ "$failed" -eq 0 ] && check "BuildGrid: execution, CAS, action cache, bots on 127.0.0.1" start_buildgrid
[ "$failed" -eq 0 ] && check "$bots bots (buildbox-worker + buildbox-casd, hosttools runner)" start_bots
# Without the service nothing below means anything.
[ "$failed" -eq 0 ] || { finish; exit 1; }

echo "== a local build for reference, then the same remotely"
check "local: bazel build of the components (reference bytes)" local_build
check "remote: bazel test //... --remote_executor" remote_build
check "remote: every compile, link, Componentize and test ran remotely" all_remote remote
check "remote: every test PASSED" tests_pass
check "remote: both bots executed actions" bots_shared
check "remote: components byte-identical to the local build's" same_as_local
check "remote: Componentize one-shot, declared inputs, no absolute paths" declared_inputs

echo "== remote cache: bazel clean, build again"
check "after bazel clean: nothing executed (all remote cache hits)" second_build_hits

echo "== a failing action (an exception at import)"
add_broken
check "import error fails the build with the traceback, no cached result" failing_build broken
check "the same failing action runs again remotely and fails" failing_build broken-again
check "both failures have the same action key" same_key broken broken-again

echo
echo "== counts"
for n in local remote remote-again broken broken-again; do
  [ -f "$logs/$n.log" ] && printf '%-13s %4s s  %s\n' "$n" "$(cat "$logs/$n.seconds" 2>/dev/null)" "$(summary "$logs/$n.log")"
done
for i in $(seq "$bots"); do echo "bot-$i: $(jobs_of "$i") actions"; done

finish
