#!/usr/bin/env bash
# The main job: set up (idempotent), then build and run the example
# components, printing what they print. Set-up's progress goes to stderr; the
# builds are quiet (-q), so stdout is exactly the README's sample output
# (scripts/check-demo.sh compares the two). The example hosts (kv-host) were
# built by set-up together with the compiler, in one cargo build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
cpy="$root/target/release/componentize-py"
out="$root/target/examples"
mkdir -p "$out"

echo "== examples/hello: a world exporting hello(name: string) -> string"
(cd "$root/examples/hello" && "$cpy" -q -d hello.wit -w hello componentize app -p . -o "$out/hello.wasm")
"$cpy" run --invoke 'hello("world")' "$out/hello.wasm"

echo "== examples/cli: a wasi:cli/command component"
(cd "$root/examples/cli" && "$cpy" -q -d wit -w wasi:cli/command@0.2.0 componentize cli -o "$out/cli.wasm")
"$cpy" run "$out/cli.wasm" some arguments

echo "== examples/kv: a counter kept in the host's key-value store (examples/kv/host.rs)"
(cd "$root/examples/kv" && "$cpy" -q -d wit componentize app -o "$out/kv.wasm")
"$root/target/release/examples/kv-host" "$out/kv.wasm" 'visit("home")' 'visit("home")' 'visit("about")' 'report()'

echo "== examples/sandbox: eval/exec of Python snippets, built with --stub-wasi"
(cd "$root/examples/sandbox" && "$cpy" -q -d sandbox.wit -w sandbox componentize app -p . -o "$out/sandbox.wasm" --stub-wasi)
"$cpy" run --invoke 'exec("x = 6 * 7")' --invoke 'eval("x")' "$out/sandbox.wasm" | tail -n 1
"$cpy" run --invoke 'eval("1 / 0")' "$out/sandbox.wasm"
# A runaway snippet: stopped after 1 s, exit code 1 (expected).
if "$cpy" run --timeout 1s --invoke 'exec("while True: pass")' "$out/sandbox.wasm" 2>"$out/timeout.err"; then
  echo "demo: the runaway snippet was not stopped" >&2
  exit 1
fi
head -n 1 "$out/timeout.err"

echo "== examples/http: a wasi:http/proxy handler under componentize-py serve"
(cd "$root/examples/http" && "$cpy" -q -d wit -w http componentize app -o "$out/http.wasm")
"$cpy" serve --addr 127.0.0.1:0 "$out/http.wasm" >"$out/serve.out" 2>"$out/serve.err" &
serve_pid=$!
trap 'kill -INT "$serve_pid" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  grep -q '^Serving HTTP on' "$out/serve.out" 2>/dev/null && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$out/serve.err" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^Serving HTTP on //p' "$out/serve.out")
python3 - "$url" <<'PY'
import sys, urllib.request
url = sys.argv[1]
print(urllib.request.urlopen(url).read().decode(), end="")
print(urllib.request.urlopen(url + "echo", data=b"hello body").read().decode())
PY
kill -INT "$serve_pid"
wait "$serve_pid"
trap - EXIT
