#!/usr/bin/env bash
# Build a release of componentize-py from this checkout, into dist/:
#
#   componentize_py_bazel-<version>-py3-none-<platform>.whl  the compiler as
#       a Python wheel, built by maturin (from PyPI, `bin` bindings:
#       `pip install` puts `componentize-py` on PATH), tagged by maturin's
#       own manylinux audit; plus its .sha256
#   componentize-py-<version>-<target>.tar.gz  the very binary of the wheel
#       (self-contained: it carries the interpreter module and the stdlib)
#       and the licence texts of what it bundles, in a folder of the same
#       name; plus its .sha256
#
# Runs set-up first, which builds the compiler (the binary embeds
# .toolchain/runtime, see compiler/build.rs) with the cargo command the tests
# use (`cargo build --release --locked --bins --examples`). maturin's own
# `cargo rustc --bin componentize-py -- -C strip=symbols` then reuses every
# dependency of that build (the dev-dependencies add no feature to the
# normal graph, see compiler/Cargo.toml) and recompiles only the binary's
# crate, stripped. Both artifacts are reproducible: maturin dates every
# entry 1980-01-01 and its Rust SBOM, which holds a random serial number and
# the build time, is off (pyproject.toml); the archive's file times are the
# last commit's, owners, modes and order fixed.
#
#   bash scripts/release.sh        # prints the artifacts, sizes and timings
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
t_start=$(date +%s)
maturin_version=1.16.0

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
# What the binary bundles: CPython (stdlib and interpreter), expat and
# libmpdec (CPython's pyexpat and _decimal), wasi-libc and compiler-rt
# (linked into the interpreter module), the Rust crates; and this
# repository's own licence.
lic="$root/target/release-licenses"
rm -rf "$lic" && mkdir -p "$lic"
cp .toolchain/runtime/python/lib/python3.11/LICENSE.txt "$lic/CPython-LICENSE.txt"
cp .toolchain/wasi-libc/usr/share/doc/wasi-libc/copyright "$lic/wasi-libc-copyright.txt"
clang_rt=/usr/share/doc/libclang-rt-19-dev-wasm32/copyright
[ -f "$clang_rt" ] && cp "$clang_rt" "$lic/compiler-rt-copyright.txt"
cp licenses/expat-COPYING.txt licenses/mpdecimal-LICENSE.txt "$lic/"
cp LICENSE "$lic/componentize-py-LICENSE.txt"
python3 scripts/lib/third_party_licenses.py "$lic/rust-crates.txt"

# ------------------------------------------------------------------- wheel
venv="$root/target/release-venv"
if ! "$venv/bin/maturin" --version 2>/dev/null | grep -qx "maturin $maturin_version"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "maturin==$maturin_version"
fi
# SOURCE_DATE_EPOCH stays away from maturin's cargo: cc-based build scripts
# (ring, zstd-sys) rerun when it changes, which would recompile half the graph.
t_wheel0=$(date +%s)
env -u SOURCE_DATE_EPOCH "$venv/bin/maturin" build --release --locked --strip --out "$dist" 2>&1 |
  sed '/^ *Compiling /d' >&2
t_wheel=$(date +%s)
wheels=("$dist"/*.whl)
[ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] ||
  { echo "release: expected one wheel in $dist, found: ${wheels[*]}" >&2; exit 1; }
wheel=${wheels[0]}

# ----------------------------------------------------------------- archive
stage="$root/target/release-archive"
rm -rf "$stage" && mkdir -p "$stage/$name/licenses"
# The archive carries the wheel's binary, byte for byte.
python3 - "$wheel" "$stage/$name/componentize-py" <<'EOF'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    scripts = [n for n in z.namelist() if n.endswith(".data/scripts/componentize-py")]
    if len(scripts) != 1:
        sys.exit(f"release: {wheel} holds {len(scripts)} componentize-py scripts, expected 1")
    with open(out, "wb") as f:
        f.write(z.read(scripts[0]))
EOF
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
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    --format=gnu -C "$stage" -cf - "$name" | gzip -9n > "$dist/$name.tar.gz"
(cd "$dist" && for f in "$name.tar.gz" "$(basename "$wheel")"; do sha256sum "$f" > "$f.sha256"; done)
t_end=$(date +%s)

size() { stat -c %s "$1"; }
echo
echo "== release $version for $target ($(( t_end - t_start )) s: set-up and cargo $(( t_setup - t_start )) s, maturin $(( t_wheel - t_wheel0 )) s, packaging $(( t_end - t_setup - t_wheel + t_wheel0 )) s)"
echo "binary   $(size "$stage/$name/componentize-py") bytes"
for f in "$dist"/*; do printf '%-8s %s  %s bytes\n' "$(case $f in *.sha256) echo sha256;; *.whl) echo wheel;; *) echo archive;; esac)" "${f#$root/}" "$(size "$f")"; done
cat "$dist/$name.tar.gz.sha256"
