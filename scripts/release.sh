#!/usr/bin/env bash
# Build a release of componentize-py from this checkout, into dist/:
#
#   componentize-py-<version>-<target>.tar.gz  the self-contained binary (it
#       carries the interpreter module and the stdlib) and the licence texts
#       of what it bundles, in a folder of the same name; plus its .sha256
#   componentize_py_bazel-<version>-py3-none-<platform>.whl  the same binary
#       as a Python wheel (`pip install` puts `componentize-py` on PATH),
#       tagged for the oldest manylinux glibc the binary's symbols allow;
#       plus its .sha256
#
# Runs set-up first, which builds the compiler (the binary embeds
# .toolchain/runtime, see compiler/build.rs) with the very cargo command the
# tests use (`cargo build --release --locked --bins --examples`), so after
# set-up or `cargo test` nothing is compiled again: a plain `cargo build
# --bin` would resolve other dependency features (dev-dependencies unify
# into examples' builds) and recompile most of Wasmtime. The binary is
# stripped once; archive and wheel carry that same file. Both are
# reproducible: file times the last commit's, owners, modes and order fixed
# (scripts/lib/write_wheel.py writes the wheel).
#
#   bash scripts/release.sh        # prints the artifacts, sizes and timings
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
t_start=$(date +%s)

bash scripts/setup.sh
t_setup=$(date +%s)

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' compiler/Cargo.toml | head -1)
target=$(rustc -vV | sed -n 's/^host: //p')
name="componentize-py-$version-$target"
# File times in archive and wheel: the last commit's.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
dist="$root/dist"
rm -rf "$dist" && mkdir -p "$dist"

# ------------------------------------------------------------ licence texts
# What the binary bundles: CPython (stdlib and interpreter), wasi-libc and
# compiler-rt (linked into the interpreter module), the Rust crates.
lic="$root/target/release-licenses"
rm -rf "$lic" && mkdir -p "$lic"
cp .toolchain/runtime/python/lib/python3.11/LICENSE.txt "$lic/CPython-LICENSE.txt"
cp .toolchain/wasi-libc/usr/share/doc/wasi-libc/copyright "$lic/wasi-libc-copyright.txt"
clang_rt=/usr/share/doc/libclang-rt-19-dev-wasm32/copyright
[ -f "$clang_rt" ] && cp "$clang_rt" "$lic/compiler-rt-copyright.txt"
python3 scripts/lib/third_party_licenses.py "$lic/rust-crates.txt"

# ----------------------------------------------------------------- archive
stage="$root/target/release-archive"
rm -rf "$stage" && mkdir -p "$stage/$name/licenses"
strip -o "$stage/$name/componentize-py" target/release/componentize-py
chmod 755 "$stage/$name/componentize-py"
cp "$lic"/* "$stage/$name/licenses/"
# The binary must not depend on the checkout: it builds with the toolchain
# it carries, from a folder with no .toolchain/ above it and an empty cache.
smoke=$(mktemp -d "${TMPDIR:-/tmp}/componentize-py-release.XXXXXX")
mkdir -p "$smoke/home" && cp examples/hello/hello.wit examples/hello/app.py "$stage/$name/componentize-py" "$smoke/"
(cd "$smoke" && env -u COMPONENTIZE_PY_TOOLCHAIN -u COMPONENTIZE_PY_CACHE_DIR -u XDG_CACHE_HOME \
   HOME="$smoke/home" ./componentize-py -q -d hello.wit -w hello componentize app -o hello.wasm) || {
  echo "release: the binary cannot build without a checkout (was it built without .toolchain/runtime?)" >&2
  rm -rf "$smoke"; exit 1
}
rm -rf "$smoke"
# ------------------------------------------------------------------- wheel
wheel=$(python3 scripts/lib/write_wheel.py "$stage/$name/componentize-py" "$version" "$lic" "$epoch" "$dist")
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    --format=gnu -C "$stage" -cf - "$name" | gzip -9n > "$dist/$name.tar.gz"
(cd "$dist" && for f in "$name.tar.gz" "$(basename "$wheel")"; do sha256sum "$f" > "$f.sha256"; done)
t_end=$(date +%s)

size() { stat -c %s "$1"; }
echo
echo "== release $version for $target ($(( t_end - t_start )) s: set-up and cargo $(( t_setup - t_start )) s, packaging $(( t_end - t_setup )) s)"
echo "binary   $(size "$stage/$name/componentize-py") bytes"
for f in "$dist"/*; do printf '%-8s %s  %s bytes\n' "$(case $f in *.sha256) echo sha256;; *.whl) echo wheel;; *) echo archive;; esac)" "${f#$root/}" "$(size "$f")"; done
cat "$dist/$name.tar.gz.sha256"
