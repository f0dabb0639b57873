#!/usr/bin/env bash
# Test the release (scripts/release.sh) end to end:
#
#   1. scripts/release.sh runs and writes the archive, the wheel and their
#      .sha256 files, which verify; the wheel's tag is a manylinux one for
#      this machine's architecture; archive and wheel carry the same binary
#      and the licence texts; a second run gives byte-identical artifacts;
#   2. a fresh venv installs the wheel (pip, offline: the wheel has no
#      dependencies) and its `componentize-py`, found on PATH, builds and runs
#      the hello example in a temporary folder with no .toolchain/ above it,
#      with an empty HOME (no cache: the embedded toolchain is unpacked there);
#   3. the bare binary out of the archive, copied alone into another such
#      folder, does the same, and both components are byte-identical to the
#      checkout's binary run with the external toolchain (--toolchain);
#   4. Bazel: a copy of the test workspace (tests/bazel/workspace) builds
#      with the local compiler, then with the compiler toolchain from the
#      release archive (componentize.toolchain(urls, sha256) added to its
#      MODULE.bazel), served offline by --distdir=dist/ (the URL's host is
#      reserved and never resolves); the compiler Bazel ran is the
#      archive's, and the components are byte-identical to the local
#      compiler's. The local build uses the disk cache of
#      scripts/test-bazel.sh; the archive's build none, so that its
#      Componentize actions run. Left out with --no-bazel.
#
# Ends with a line `N passed, M failed`; exit status 0 only when M is 0.
set -uo pipefail
run_bazel=1
[ "${1:-}" = "--no-bazel" ] && run_bazel=0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
logs="$root/target/test-release-logs"
# check, finish, in_ws, copy_ws
. "$root/scripts/lib/test-lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/componentize-py-release-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
dist="$root/dist"

check "scripts/release.sh builds archive and wheel" bash "$root/scripts/release.sh"

archive=$(ls "$dist"/componentize-py-*.tar.gz 2>/dev/null | head -1)
wheel=$(ls "$dist"/*.whl 2>/dev/null | head -1)

sums_verify() {
  [ -f "$archive" ] && [ -f "$wheel" ] || { echo "missing: archive '$archive' wheel '$wheel'"; return 1; }
  (cd "$dist" && sha256sum -c "$(basename "$archive").sha256" "$(basename "$wheel").sha256")
}
check "the .sha256 files verify" sums_verify

wheel_tag() {
  local tag
  tag=$(basename "$wheel" .whl | rev | cut -d- -f1 | rev)
  echo "wheel: $(basename "$wheel") (platform tag $tag)"
  # maturin's audit: the oldest manylinux whose glibc symbols the binary may use.
  [[ $tag =~ ^manylinux_2_[0-9]+_$(uname -m)(\.|$) ]]
}
check "the wheel is tagged manylinux for $(uname -m)" wheel_tag

archive_contents() {
  local name
  name=$(basename "$archive" .tar.gz)
  mkdir -p "$work/archive" && tar -xzf "$archive" -C "$work/archive" || return 1
  tar -tzvf "$archive"
  for f in componentize-py licenses/CPython-LICENSE.txt licenses/wasi-libc-copyright.txt licenses/rust-crates.txt \
           licenses/expat-COPYING.txt licenses/mpdecimal-LICENSE.txt licenses/componentize-py-LICENSE.txt; do
    [ -s "$work/archive/$name/$f" ] || { echo "archive lacks $name/$f"; return 1; }
  done
  grep -q "PYTHON SOFTWARE FOUNDATION LICENSE" "$work/archive/$name/licenses/CPython-LICENSE.txt" &&
  grep -q "^wasmtime 48.0.8: " "$work/archive/$name/licenses/rust-crates.txt" || return 1
  # The wheel's binary is the archive's.
  python3 - "$wheel" "$work/archive/$name/componentize-py" <<'EOF'
import sys, zipfile
wheel, binary = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    [script] = [n for n in z.namelist() if n.endswith(".data/scripts/componentize-py")]
    licences = [n for n in z.namelist() if "/licenses/" in n]
    print("wheel licence files:", licences)
    for name in ("CPython-LICENSE.txt", "expat-COPYING.txt", "mpdecimal-LICENSE.txt", "rust-crates.txt"):
        assert any(n.endswith(name) for n in licences), (name, licences)
    assert not any("/sboms/" in n for n in z.namelist()), "maturin's SBOM (random serial, build time) is in the wheel"
    assert z.read(script) == open(binary, "rb").read(), "the wheel's binary differs from the archive's"
EOF
}
check "the archive holds the binary and licences; the wheel the same binary" archive_contents

reproducible() {
  mkdir -p "$work/first" && cp "$dist"/*.sha256 "$work/first/" || return 1
  bash "$root/scripts/release.sh" > "$logs/release-again.log" 2>&1 || { tail -20 "$logs/release-again.log"; return 1; }
  local f
  for f in "$work"/first/*.sha256; do
    echo "first:  $(cat "$f")"; echo "second: $(cat "$dist/$(basename "$f")")"
    cmp "$f" "$dist/$(basename "$f")" || return 1
  done
}
check "a second scripts/release.sh writes byte-identical archive and wheel" reproducible

# hello DIR EXE...: build and run the hello example in DIR (a copy, no
# .toolchain above) with EXE, an empty HOME and no toolchain settings.
hello() {
  local dir=$1; shift
  mkdir -p "$dir/home" && cp "$root/examples/hello/hello.wit" "$root/examples/hello/app.py" "$dir/" || return 1
  local d=$dir; while [ "$d" != / ]; do [ ! -e "$d/.toolchain" ] || { echo "$d/.toolchain exists"; return 1; }; d=$(dirname "$d"); done
  (cd "$dir" && env -u COMPONENTIZE_PY_TOOLCHAIN -u COMPONENTIZE_PY_CACHE_DIR -u XDG_CACHE_HOME HOME="$dir/home" \
     "$@" -d hello.wit -w hello componentize app -o hello.wasm) || return 1
  local out
  out=$(cd "$dir" && env HOME="$dir/home" "$@" run --invoke 'hello("world")' hello.wasm) || return 1
  echo "run: $out"
  [ "$out" = '"Hello, world!"' ] || return 1
  ls -d "$dir"/home/.cache/componentize-py/toolchain-* || { echo "the embedded toolchain was not unpacked into the cache"; return 1; }
}

wheel_venv() {
  python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q --no-index "$wheel" || return 1
  # On PATH, as a user's shell would find it.
  local exe
  exe=$(PATH="$work/venv/bin:$PATH" command -v componentize-py)
  echo "componentize-py on PATH: $exe"
  [ "$exe" = "$work/venv/bin/componentize-py" ] || return 1
  PATH="$work/venv/bin:$PATH" hello "$work/wheel-hello" componentize-py
}
check "a fresh venv installs the wheel; its componentize-py builds and runs hello" wheel_venv

bare_binary() {
  local name
  name=$(basename "$archive" .tar.gz)
  mkdir -p "$work/bare/bin" && cp "$work/archive/$name/componentize-py" "$work/bare/bin/" || return 1
  hello "$work/bare/hello" "$work/bare/bin/componentize-py"
}
check "a copy of the bare binary builds and runs hello" bare_binary

same_as_external() {
  mkdir -p "$work/external/home" && cp "$root/examples/hello/hello.wit" "$root/examples/hello/app.py" "$work/external/" || return 1
  (cd "$work/external" && HOME="$work/external/home" "$root/target/release/componentize-py" \
     --toolchain "$root/.toolchain" -d hello.wit -w hello componentize app -o hello.wasm) || return 1
  sha256sum "$work/external/hello.wasm" "$work/wheel-hello/hello.wasm" "$work/bare/hello/hello.wasm"
  cmp "$work/external/hello.wasm" "$work/wheel-hello/hello.wasm" && cmp "$work/external/hello.wasm" "$work/bare/hello/hello.wasm"
}
check "wheel, bare binary and external toolchain give byte-identical components" same_as_external

if [ "$run_bazel" = 1 ]; then
  echo "== Bazel: the compiler toolchain from the release archive (--distdir)"
  bws="$root/target/bazel-release-ws"
  components=(greeter/greeter.wasm geometry/geometry.wasm cli/cli.wasm)
  # The disk cache scripts/test-bazel.sh fills (test.sh runs it first): the
  # local build is then mostly cache hits.
  dcache=(--disk_cache="$root/.toolchain/bazel-disk-cache")
  rm -rf "$bws"
  check "copy of the test workspace" copy_ws "$root/tests/bazel/workspace" "$bws"
  local_build() {
    in_ws "$bws" build //... "${dcache[@]}" || return 1
    mkdir -p "$work/bazel-local"
    for c in "${components[@]}"; do cp "$bws/bazel-bin/$c" "$work/bazel-local/$(basename "$c")" || return 1; done
  }
  check "bazel build //... with the local compiler" local_build
  archive_build() {
    local name sha
    name=$(basename "$archive")
    sha=$(cut -d' ' -f1 "$archive.sha256")
    printf '\n# Added by scripts/test-release.sh: the compiler from the release archive.\ncomponentize.toolchain(\n    urls = ["https://componentize-py-releases.invalid/%s"],\n    sha256 = "%s",\n)\n' \
      "$name" "$sha" >> "$bws/MODULE.bazel"
    # The archive's binary is the local one's bytes (release.sh's maturin
    # build left it in target/release), so Bazel's action cache and the disk
    # cache would answer every Componentize: clean, and no disk cache, so
    # that the archive's compiler really runs them.
    in_ws "$bws" clean || return 1
    in_ws "$bws" build //... --distdir="$dist" 2>&1 | tee "$logs/archive-build.log" || return 1
    grep -Eq 'processes: .*[0-9]+ (multiplex-)?worker' "$logs/archive-build.log" || { echo "no Componentize action ran"; return 1; }
    # The compiler Bazel ran: the archive's binary, unpacked by Bazel.
    local ob exe
    ob=$(in_ws "$bws" info output_base 2>/dev/null) || return 1
    exe=$(ls "$ob"/external/*componentize_py_toolchains/bin/componentize-py) || return 1
    echo "compiler: $exe"
    [ -f "$exe" ] && [ ! -L "$exe" ] && cmp "$exe" "$work/archive/${name%.tar.gz}/componentize-py" || return 1
    grep -q "release archive https://componentize-py-releases.invalid/$name" "$(dirname "$(dirname "$exe")")/BUILD.bazel"
  }
  check "bazel build //... with the compiler from the archive, offline via --distdir" archive_build
  same_components() {
    for c in "${components[@]}"; do
      sha256sum "$work/bazel-local/$(basename "$c")" "$bws/bazel-bin/$c"
      cmp "$work/bazel-local/$(basename "$c")" "$bws/bazel-bin/$c" || return 1
    done
  }
  check "Bazel components: archive compiler byte-identical to the local one" same_components
  ob=$(in_ws "$bws" info output_base 2>/dev/null)
  in_ws "$bws" shutdown >/dev/null 2>&1
  [ -n "$ob" ] && case "$ob" in "$root"/.toolchain/bazel-root/*) rm -rf "$ob" ;; esac
  rm -rf "$bws"
fi

finish
