#!/usr/bin/env bash
# Run every test: set up the toolchain (idempotent), then the Rust unit tests
# and the end-to-end tests, which build real components with the real binary
# and run them under the embedded Wasmtime, then the Bazel rules' tests
# (scripts/test-bazel.sh: Bazel 7.7.1 in a project-local Debian sid chroot,
# provisioned on first use), then the remote cache test
# (scripts/test-remote-cache.sh: an nginx HTTP cache on loopback shared by two
# checkouts playing two CI machines), then the remote execution test
# (scripts/test-remote-exec.sh: BuildGrid and two buildbox bots on loopback
# run every action of the test monorepo), then the release
# (scripts/test-release.sh: archive and wheel, installed and run, and as a
# Bazel toolchain), then the demo, whose stdout must be the
# README's sample output (scripts/check-demo.sh). Fails if any part fails
# (every script after the cargo tests runs, so one failing does not hide the
# others' results).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# timed NAME CMD...: run CMD, then print how long it took (the log of a CI
# run shows where its time went).
timed() {
  local name=$1 t0 status=0
  shift
  t0=$(date +%s)
  "$@" || status=$?
  echo "== test.sh: $name took $(( $(date +%s) - t0 )) s (exit $status)"
  return $status
}
timed "set-up" bash "$root/scripts/setup.sh" --no-compiler
cd "$root"
# Keep the compile cache inside the clone (nothing is left in $HOME).
export COMPONENTIZE_PY_CACHE_DIR="$root/target/componentize-py-cache"
timed "cargo test" cargo test --release --locked --workspace --no-fail-fast 2>&1
# cargo test built target/release/componentize-py, which the Bazel tests use.
status=0
if timed "test-bazel" bash "$root/scripts/test-bazel.sh"; then
  # Its local build of tests/bazel/workspace is the reference the remote
  # execution test compares its components with (one local build less).
  export TEST_REMOTE_EXEC_LOCAL_SHA256="$root/.toolchain/test-bazel-logs/bzlmod.sha256"
else
  status=1
fi
timed "test-remote-cache" bash "$root/scripts/test-remote-cache.sh" || status=1
# Bounded: a bot that loses its BuildGrid session leaves its job leased,
# and Bazel would wait for it without end.
timed "test-remote-exec" timeout 900 bash "$root/scripts/test-remote-exec.sh" || status=1
timed "test-release" bash "$root/scripts/test-release.sh" || status=1
timed "check-demo" bash "$root/scripts/check-demo.sh" || status=1
exit $status
