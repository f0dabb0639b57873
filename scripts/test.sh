#!/usr/bin/env bash
# Run every test: set up the toolchain (idempotent), then the Rust unit tests
# and the end-to-end tests, which build real components with the real binary
# and run them under the embedded Wasmtime.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh" --no-compiler
cd "$root"
cargo test --release --locked --workspace 2>&1
