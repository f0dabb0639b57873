#!/usr/bin/env bash
# Test the Bazel rules with a real remote cache shared by two CI machines:
#
#   1. the cache: Debian's nginx (nginx-full, WebDAV module; apt-get installs
#      it when missing) on 127.0.0.1 at a free port, as a Bazel HTTP cache
#      (GET/PUT under /ac/ and /cas/), with its config, store, logs and pid in
#      a temp folder, stopped on exit;
#   2. two "CI machines": two copies of tests/bazel/workspace at different
#      absolute paths, each with its own --output_base and repository cache,
#      and its own HOME, TMPDIR and USER for the Bazel client;
#   3. machine A runs `bazel test //...` on an empty cache and uploads; machine
#      B then runs the same and executes nothing: every spawn (compiles, link,
#      Componentize, test runs) is a remote cache hit, counted from Bazel's
#      summary line and execution log, and every test is "(cached) PASSED";
#   4. on B, a change to one Python file runs only the Componentize action of
#      the one component that uses it, a change to one WIT file only those of
#      the components whose world is in it; A, given the same changes, then
#      executes nothing;
#   5. no poisoning: a failing test (on A) and a failing Componentize (an
#      exception at import, on B) upload no action result (the nginx access
#      log shows no PUT under /ac/, the /ac/ store is unchanged), and the
#      other machine runs the same failing input again and fails.
#
# Ends with a line `N passed, M failed`; exit status 0 only when M is 0.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ws="$root/tests/bazel/workspace"
logs="$root/.toolchain/test-remote-cache-logs"
rc="$root/.toolchain/test-remote-cache"
# check, finish, ensure_setup, in_ws, copy_ws, spawns, summary, summary_only
. "$root/scripts/lib/test-lib.sh"

ensure_setup
rm -rf "$rc" && mkdir -p "$rc"

# ------------------------------------------------------------ the cache
echo "== remote cache: nginx (WebDAV) on 127.0.0.1"
cache="$rc/cache"
port=
install_nginx() {
  command -v nginx >/dev/null 2>&1 && return 0
  echo "installing nginx-full (apt-get)"
  # The package's postinst must not start a system nginx service: a
  # policy-rc.d that denies every start, for the time of the install only.
  local policy=/usr/sbin/policy-rc.d own_policy= status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-full \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-full; } \
    || status=1
  [ -z "$own_policy" ] || rm -f "$policy"
  return $status
}
start_nginx() {
  install_nginx || return 1
  nginx -V 2>&1 | grep -q -- --with-http_dav_module || { echo "this nginx lacks the WebDAV module"; return 1; }
  mkdir -p "$cache/store" "$cache/tmp" "$cache/logs"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$cache/nginx.conf" <<EOF
# A Bazel HTTP remote cache: GET and PUT of /ac/<sha256> and /cas/<sha256>.
daemon on;
user $(id -un);
worker_processes 2;
pid $cache/nginx.pid;
error_log $cache/logs/error.log;
events { worker_connections 512; }
http {
  access_log $cache/logs/access.log;
  client_body_temp_path $cache/tmp/body;
  proxy_temp_path $cache/tmp/proxy;
  fastcgi_temp_path $cache/tmp/fastcgi;
  uwsgi_temp_path $cache/tmp/uwsgi;
  scgi_temp_path $cache/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $cache/store;
    client_max_body_size 0;
    location / {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
EOF
  nginx -e "$cache/logs/error.log" -c "$cache/nginx.conf" -p "$cache/" || return 1
  local i
  for i in $(seq 50); do [ -s "$cache/nginx.pid" ] && break; sleep 0.1; done
  echo "nginx master pid $(cat "$cache/nginx.pid"), http://127.0.0.1:$port"
  # It stores and serves a blob; a missing key is a 404 (a cache miss).
  local probe="$cache/probe"
  echo "probe $$" > "$probe"
  [ "$(curl -sS -o /dev/null -w '%{http_code}' -T "$probe" "http://127.0.0.1:$port/probe/blob")" = 201 ] || return 1
  curl -sS "http://127.0.0.1:$port/probe/blob" | cmp - "$probe" || return 1
  [ "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ac/0000")" = 404 ]
}
stop_nginx() {
  local pid
  pid=$(cat "$cache/nginx.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

# ---------------------------------------------------------- the machines
# Two checkouts of the monorepo at different depths and names, each with its
# own output base, repository cache, HOME, TMPDIR and USER (all inside the
# repository: the chroot sees nothing else).
declare -A mdir mws mob menv
mdir[A]="$rc/ci-a";                 mws[A]="${mdir[A]}/checkout/monorepo"
mdir[B]="$rc/runner-2/builds/x/y";  mws[B]="${mdir[B]}/src"
menv[A]="HOME=${mdir[A]}/home USER=ci-a TMPDIR=${mdir[A]}/tmp"
menv[B]="HOME=${mdir[B]}/home/builder USER=builder TMPDIR=${mdir[B]}/tmp"
for m in A B; do mob[$m]="${mdir[$m]}/output_base"; done

# on M CMD ARGS...: scripts/bazel.sh CMD ARGS... on machine M, with the flags
# README.md's "Remote cache" gives a monorepo CI (the workspace's .bazelrc
# adds --incompatible_strict_action_env).
on() {
  local m=$1 cmd=$2; shift 2
  (cd "${mws[$m]}" && BAZEL_SH_ENV="${menv[$m]}" "$bazel" --output_base="${mob[$m]}" "$cmd" \
     --remote_cache="http://127.0.0.1:$port" --remote_upload_local_results \
     --strategy=Componentize=worker --worker_max_multiplex_instances=Componentize=4 \
     --repository_cache="${mdir[$m]}/repository_cache" "$@")
}
make_machine() {
  local m=$1
  copy_ws "$ws" "${mws[$m]}" || return 1
  mkdir -p "${mdir[$m]}/tmp" "$(echo "${menv[$m]}" | sed 's/.*HOME=\([^ ]*\).*/\1/')"
  echo "machine $m: ${mws[$m]}, output base ${mob[$m]}, ${menv[$m]}"
}

# ac_entries: the action results in the cache; puts_ac: PUTs under /ac/ so far.
ac_entries() { find "$cache/store/ac" -type f 2>/dev/null | wc -l; }
puts_ac() { grep -c '"PUT /ac/' "$cache/logs/access.log"; }

# run_logged NAME M CMD ARGS...: `on M CMD ARGS...` with an execution log,
# output in $logs/NAME.log and $logs/NAME.exec.json; prints the summary line
# and the wall time. Status: Bazel's.
run_logged() {
  local name=$1 m=$2 cmd=$3 t0=$(date +%s) status; shift 3
  on "$m" "$cmd" --execution_log_json_file="$logs/$name.exec.json" "$@" >"$logs/$name.log" 2>&1
  status=$?
  echo "machine $m: bazel $cmd $* -> exit $status in $(( $(date +%s) - t0 )) s"
  echo "  $(summary "$logs/$name.log")"
  return $status
}

# table NAME: the spawns of NAME's execution log, one a line:
# "mnemonic label hit|ran exit-code remote-cacheable(True|False) action-digest".
# The action digest is the key of the spawn's result in the cache's /ac/.
table() {
  spawns "$logs/$1.exec.json" | python3 -c '
import json, sys
for s in map(json.loads, sys.stdin):
    print(s.get("mnemonic", "?"), s.get("targetLabel") or "-", "hit" if s.get("cacheHit") else "ran",
          s.get("exitCode", 0), s.get("remoteCacheable", False), s.get("digest", {}).get("hash", "-"))
'
}

# executed NAME: the spawns of NAME's execution log that ran (no cache hit),
# as "mnemonic label" lines, sorted; on stderr a count per mnemonic of the
# spawns that ran and of the cache hits.
executed() {
  local t; t=$(table "$1") || return 1
  echo "$t" | awk '{ n[$3 " " $1]++ } END { for (k in n) printf "%s: %d  ", k, n[k]; print "" }' >&2
  echo "$t" | awk '$3 == "ran" { print $1, $2 }' | sort
}

# expect_executed NAME MNEMONIC LABEL...: exactly LABELs ran MNEMONIC (a test
# runs two TestRunner spawns when its runner writes no test.xml: counted once).
expect_executed() {
  local name=$1 mnemonic=$2; shift 2
  local got want
  got=$(executed "$name" | awk -v m="$mnemonic" '$1 == m { print $2 }' | sort -u) || return 1
  want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
  echo "$mnemonic executed: [$(echo $got)] (want [$(echo $want)])"
  [ "$got" = "$want" ]
}

# --------------------------------------------------------------- checks
machine_a_build() {
  local ac0; ac0=$(ac_entries)
  run_logged a-test A test //... || return 1
  executed a-test >/dev/null
  # An empty cache: nothing hit, everything ran and was uploaded.
  ! summary "$logs/a-test.log" | grep -q 'remote cache hit' || return 1
  expect_executed a-test Componentize //asyncs:asyncs //cli:cli //geometry:geometry //greeter:greeter || return 1
  echo "action results uploaded: $(( $(ac_entries) - ac0 )), PUT /ac/: $(puts_ac)"
  # Every remote-cacheable spawn that ran has its result under /ac/<digest>.
  local n=0 missing=0 mn label how code cacheable digest
  while read -r mn label how code cacheable digest; do
    [ "$how" = ran ] && [ "$cacheable" = True ] || continue
    n=$((n + 1))
    [ -f "$cache/store/ac/$digest" ] || { missing=$((missing + 1)); echo "not in the cache: $mn $label $digest"; }
  done < <(table a-test)
  echo "remote-cacheable spawns that ran: $n, their results in /ac/: $((n - missing))"
  [ "$n" -ge 11 ] && [ "$missing" -eq 0 ]
}

machine_b_all_hits() {
  run_logged b-test B test //... || return 1
  # "INFO: N processes: M remote cache hit, K internal." and nothing else:
  # one WasiCcCompile per runtime/*.c and interpreter + 2 WasiLink + 4
  # Componentize + the test runs (2 spawns per test: the test, its test.xml).
  summary_only "$logs/b-test.log" "remote cache hit" 11 || return 1
  local ran; ran=$(executed b-test) || return 1
  [ -z "$ran" ] || { echo "executed on B: $ran"; return 1; }
  spawns "$logs/b-test.exec.json" | python3 -c '
import json, sys, collections
n = collections.Counter(s["mnemonic"] for s in map(json.loads, sys.stdin) if s.get("cacheHit"))
print("remote cache hits by mnemonic:", dict(n))
sys.exit(0 if n["Componentize"] == 4 and n["WasiLink"] == 2 and n["WasiCcCompile"] >= 1 and n["TestRunner"] >= 3 else 1)
'
}

tests_cached() {
  # Every test's result came from the cache: "(cached) PASSED", none ran.
  local all cached
  all=$(grep -cE '^//[^ ]+ +.*PASSED' "$logs/b-test.log")
  cached=$(grep -cE '^//[^ ]+ +\(cached\) PASSED' "$logs/b-test.log")
  grep -E '^//[^ ]+ +' "$logs/b-test.log"
  echo "tests: $all passed, $cached of them (cached)"
  [ "$all" -ge 3 ] && [ "$all" -eq "$cached" ]
}

same_components() {
  local c
  for c in greeter/greeter.wasm geometry/geometry.wasm cli/cli.wasm asyncs/asyncs.wasm; do
    cmp "${mws[A]}/bazel-bin/$c" "${mws[B]}/bazel-bin/$c" || return 1
    echo "identical on A and B: $c ($(stat -c %s "${mws[B]}/bazel-bin/$c") bytes)"
  done
}

toplevel_only() {
  # Bazel 7 fetches only the top-level outputs of cache hits
  # (--remote_download_outputs=toplevel): the interpreter module stays in the
  # cache; the components, which bazel test's targets depend on, are here.
  local found
  found=$(find "${mob[B]}/execroot" -name 'interpreter*.wasm')
  echo "interpreter.wasm on B: ${found:-none}"
  [ -z "$found" ] && [ -f "${mws[B]}/bazel-bin/greeter/greeter.wasm" ]
}

# The changes: one Python file (used by greeter only), one WIT file (the
# package of the greeter and geometry worlds, not of cli's).
change_python() {
  sed -i 's/return f"Hello, {name}!"/return "Hello, " + name + "!"/' "${mws[$1]}/pylib/greeting.py"
  grep -q '"Hello, " + name' "${mws[$1]}/pylib/greeting.py"
}
change_wit() {
  printf '\n/// Added by scripts/test-remote-cache.sh.\nworld extra {\n  export ping: func() -> u32;\n}\n' \
    >> "${mws[$1]}/wit/apps.wit"
}
python_change_b() {
  change_python B || return 1
  run_logged b-py B test //... || return 1
  expect_executed b-py Componentize //greeter:greeter || return 1
  expect_executed b-py WasiCcCompile && expect_executed b-py WasiLink
}
wit_change_b() {
  change_wit B || return 1
  run_logged b-wit B test //... || return 1
  expect_executed b-wit Componentize //geometry:geometry //greeter:greeter || return 1
  expect_executed b-wit WasiCcCompile && expect_executed b-wit WasiLink
}
changes_on_a_hit() {
  # A gets both changes: what B uploaded serves it, nothing runs.
  change_python A && change_wit A || return 1
  run_logged a-changed A test //... || return 1
  summary_only "$logs/a-changed.log" "remote cache hit" 3 || return 1
  [ -z "$(executed a-changed)" ]
}

# No poisoning. A failing test: bazel test exits 3, nothing is uploaded for it.
failing_test() {
  local m=$1 name=$2 puts0 ac0 status
  puts0=$(puts_ac) ac0=$(ac_entries)
  run_logged "$name" "$m" test //greeter:greeter_expected_failure_test
  status=$?
  echo "want exit 3 (a test failed): $status"
  [ "$status" -eq 3 ] || return 1
  expect_executed "$name" TestRunner //greeter:greeter_expected_failure_test || return 1
  not_uploaded "$name" TestRunner //greeter:greeter_expected_failure_test "$puts0" "$ac0"
}

# not_uploaded NAME MNEMONIC LABEL PUTS0 AC0: in NAME's build, the MNEMONIC
# spawn of LABEL ran and failed, its action digest is not under /ac/, and no
# action result at all was uploaded (no PUT under /ac/ since PUTS0, still AC0
# entries). Saves the digest in $logs/NAME.digest.
not_uploaded() {
  local name=$1 mnemonic=$2 label=$3 puts0=$4 ac0=$5 row digest
  row=$(table "$name" | awk -v m="$mnemonic" -v l="$label" '$1 == m && $2 == l && $3 == "ran" && $4 != 0' | head -1)
  [ -n "$row" ] || { echo "no failed $mnemonic spawn of $label in the execution log"; return 1; }
  echo "failed spawn: $row"
  digest=${row##* }
  echo "$digest" > "$logs/$name.digest"
  [ ! -e "$cache/store/ac/$digest" ] || { echo "its result IS in the cache: $cache/store/ac/$digest"; return 1; }
  echo "not in the cache: /ac/$digest"
  echo "PUT /ac/ during the build: $(( $(puts_ac) - puts0 )), new action results: $(( $(ac_entries) - ac0 ))"
  [ "$(puts_ac)" -eq "$puts0" ] && [ "$(ac_entries)" -eq "$ac0" ]
}
# A failing build: an exception while importing the app, in Componentize.
break_geometry() {
  printf '\nraise RuntimeError("broken on purpose by scripts/test-remote-cache.sh")\n' >> "${mws[$1]}/geometry/geometry.py"
}
failing_build() {
  local m=$1 name=$2 puts0 ac0 status
  break_geometry "$m" || return 1
  puts0=$(puts_ac) ac0=$(ac_entries)
  run_logged "$name" "$m" build //geometry
  status=$?
  echo "want exit 1 (the build failed): $status"
  [ "$status" -eq 1 ] || return 1
  grep -q 'broken on purpose' "$logs/$name.log" || { echo "no Python traceback in the output"; return 1; }
  expect_executed "$name" Componentize //geometry:geometry || return 1
  not_uploaded "$name" Componentize //geometry:geometry "$puts0" "$ac0" || return 1
  # No output was left behind either.
  [ ! -e "${mws[$m]}/bazel-bin/geometry/geometry.wasm" ]
}
# same_key A B: the two builds' failed spawns had the same action digest (the
# cache key matches across the machines: a poisoned entry would have hit).
same_key() {
  echo "$1: $(cat "$logs/$1.digest")"; echo "$2: $(cat "$logs/$2.digest")"
  cmp -s "$logs/$1.digest" "$logs/$2.digest"
}

cleanup() {
  local m t0=$(date +%s)
  for m in A B; do
    [ -d "${mob[$m]}" ] && (cd "${mws[$m]}" 2>/dev/null && BAZEL_SH_QUIET=1 "$bazel" --output_base="${mob[$m]}" shutdown >/dev/null 2>&1)
    echo "cleanup: machine $m's Bazel server stopped at +$(( $(date +%s) - t0 )) s"
  done
  stop_nginx
  rm -rf "$rc"
  echo "cleanup: nginx stopped, $rc removed at +$(( $(date +%s) - t0 )) s"
}
trap cleanup EXIT

check "nginx: a WebDAV HTTP cache on 127.0.0.1 (PUT, GET, 404)" start_nginx
# Without the cache nothing below means anything.
[ -n "$port" ] && [ "$failed" -eq 0 ] || { finish; exit 1; }
check "machine A: copy of the monorepo" make_machine A
check "machine B: copy of the monorepo at another path" make_machine B

echo "== machine A: empty cache, bazel test //... (builds, runs, uploads)"
check "machine A: bazel test //... runs every action and uploads" machine_a_build
check "machine A: a failing test uploads no action result" failing_test A a-fail-test

echo "== machine B: same sources, other path, user, HOME, TMPDIR, output base"
check "machine B: bazel test //... executes nothing (all remote cache hits)" machine_b_all_hits
check "machine B: every test result is (cached) PASSED" tests_cached
check "machine B: components byte-identical to machine A's" same_components
check "machine B: fetched the components, not the interpreter module" toplevel_only
check "machine B: the failing test runs again (not cached) and fails" failing_test B b-fail-test
check "the failing test has the same action key on A and B" same_key a-fail-test b-fail-test

echo "== incremental: what a change rebuilds (on B), and serves (to A)"
check "Python change (pylib/greeting.py): Componentize only for greeter" python_change_b
check "WIT change (wit/apps.wit): Componentize only for greeter, geometry" wit_change_b
check "machine A, same changes: executes nothing (B's uploads hit)" changes_on_a_hit

echo "== no poisoning: a failing Componentize uploads nothing"
check "machine B: import error fails the build, no action result uploaded" failing_build B b-broken
check "machine A: the same broken input runs again and fails" failing_build A a-broken
check "the failing Componentize has the same action key on A and B" same_key b-broken a-broken

echo
echo "== hit counts"
# hit_rate LOG: remote cache hits among the processes that were not internal.
hit_rate() {
  summary "$1" | python3 -c '
import re, sys
line = sys.stdin.read()
kinds = {k.strip(): int(n) for n, k in re.findall(r"(\d+) ([a-z -]+?)(?:[,.]|$)", line.split(":", 2)[-1])}
kinds.pop("internal", None)
hits, total = kinds.get("remote cache hit", 0), sum(kinds.values())
print(f"{hits}/{total} remote cache hits" + (f" ({100 * hits / total:.0f}%)" if total else ""))
'
}
for n in a-test b-test b-py b-wit a-changed b-broken a-broken; do
  [ -f "$logs/$n.log" ] && printf '%-10s %-28s %s\n' "$n" "$(hit_rate "$logs/$n.log")" "$(summary "$logs/$n.log")"
done
echo "cache: $(ac_entries) action results, $(find "$cache/store/cas" -type f 2>/dev/null | wc -l) blobs ($(du -sh "$cache/store" 2>/dev/null | cut -f1))"

finish
