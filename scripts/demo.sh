#!/usr/bin/env bash
# The main job: set up (idempotent), then build and run the example
# components, printing what they print.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
cpy="$root/target/release/componentize-py"
out="$root/target/examples"
mkdir -p "$out"

echo "== examples/hello: a world exporting hello(name: string) -> string"
(cd "$root/examples/hello" && "$cpy" -d hello.wit -w hello componentize app -p . -o "$out/hello.wasm")
"$cpy" run --invoke 'hello("world")' "$out/hello.wasm"

echo "== examples/cli: a wasi:cli/command component"
(cd "$root/examples/cli" && "$cpy" -d wit -w wasi:cli/command@0.2.0 componentize cli -o "$out/cli.wasm")
"$cpy" run "$out/cli.wasm" some arguments

echo "== examples/kv: a counter kept in the host's key-value store (examples/kv/host.rs)"
(cd "$root/examples/kv" && "$cpy" -q -d wit componentize app -o "$out/kv.wasm")
(cd "$root" && cargo build --release --locked -q --example kv-host)
"$root/target/release/examples/kv-host" "$out/kv.wasm" 'visit("home")' 'visit("home")' 'visit("about")' 'report()'

ls -l "$out"/*.wasm
