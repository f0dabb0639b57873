#!/usr/bin/env bash
# Run every test: set up the toolchain (idempotent), then the Rust unit tests
# and the end-to-end tests, which build real components with the real binary
# and run them under the embedded Wasmtime, then the Bazel rules' tests
# (scripts/test-bazel.sh: Bazel 7.7.1 in a project-local Debian sid chroot,
# provisioned on first use). Fails if either part fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh" --no-compiler
cd "$root"
# Keep the compile cache inside the clone (nothing is left in $HOME).
export COMPONENTIZE_PY_CACHE_DIR="$root/target/componentize-py-cache"
cargo test --release --locked --workspace 2>&1
# cargo test built target/release/componentize-py, which the Bazel tests use.
bash "$root/scripts/test-bazel.sh"
