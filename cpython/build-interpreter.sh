#!/usr/bin/env bash
# Build the interpreter module (docs/internals.md, section 1):
#
#   TOOLCHAIN_DIR/runtime/interpreter.wasm          runtime/*.c + CPython, a
#                                                   wasm32-wasi reactor
#   TOOLCHAIN_DIR/runtime/interpreter-async.wasm    the same with the async ABI
#                                                   (runtime/async.c, built with
#                                                   -DCOMPONENTIZE_PY_ASYNC), for
#                                                   worlds that use async
#   TOOLCHAIN_DIR/runtime/python/lib/python3.11/    the pruned stdlib
#
# Usage: cpython/build-interpreter.sh TOOLCHAIN_DIR
#
# Idempotent: skipped when a stamp of all inputs is unchanged. Deterministic:
# no debug info, source paths mapped away, fixed file order.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 TOOLCHAIN_DIR" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
tc=$(cd "$1" && pwd)

sysroot="$tc/wasi-libc/usr"
inc="$sysroot/include/wasm32-wasip1"
lib="$sysroot/lib/wasm32-wasip1"
py="$tc/python"
pyinc="$py/include/python3.11"
stdlib_src="$py/lib/python3.11"
builtins=/usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a
clang_inc=/usr/lib/llvm-19/lib/clang/19/include
out="$tc/runtime"
wasm="$out/interpreter.wasm"
wasm_async="$out/interpreter-async.wasm"
stdlib_out="$out/python/lib/python3.11"
stamp="$out/.stamp"

for f in "$inc/stdio.h" "$lib/crt1-reactor.o" "$lib/libc.a" "$pyinc/Python.h" \
         "$py/lib/libpython3.11.a" "$py/lib/libmpdec.a" "$py/lib/libexpat.a" \
         "$builtins" "$stdlib_src/os.py"; do
  [ -e "$f" ] || { echo "build-interpreter: missing $f (run scripts/setup.sh)" >&2; exit 1; }
done
for t in clang-19 wasm-ld-19; do
  command -v "$t" >/dev/null || { echo "build-interpreter: $t not on PATH" >&2; exit 1; }
done

# ------------------------------------------------------------------ stamp
# Hash of everything the outputs depend on: our sources and this script (by
# content), the toolchain libraries and the stdlib (by size and mtime).
sources=$(cd "$root" && LC_ALL=C ls runtime/*.c runtime/*.h)
inputs_hash=$(
  {
    cd "$root"
    sha256sum cpython/build-interpreter.sh $sources
    clang-19 --version | head -1
    wasm-ld-19 --version
    stat -c '%n %s %Y' "$lib/crt1-reactor.o" "$lib"/lib*.a "$py/lib"/lib*.a "$builtins" "$py/.done" 2>/dev/null || true
    find "$stdlib_src" -type f -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum
  } | sha256sum | cut -d' ' -f1
)
if [ -f "$stamp" ] && [ -f "$wasm" ] && [ -f "$wasm_async" ] && [ -d "$stdlib_out" ] && [ "$(cat "$stamp")" = "$inputs_hash" ]; then
  echo "build-interpreter: up to date" >&2
  exit 0
fi

mkdir -p "$out"
rm -f "$stamp"
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------------------ compile
cflags=(
  --target=wasm32-wasi -O2 -g0
  -nostdinc -isystem "$inc" -isystem "$clang_inc" -I"$pyinc" -I"$root/runtime"
  -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_GETPID -D_WASI_EMULATED_PROCESS_CLOCKS
  -ffile-prefix-map="$root"=. -ffile-prefix-map="$tc"=/toolchain
  -fno-ident
  -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror=implicit-function-declaration
)
# The sync interpreter is built from the same sources as before async
# support existed (async.c is left out; everything async-only is behind
# COMPONENTIZE_PY_ASYNC), so that a world without async gets the same bytes.
link() { # OUTPUT OBJECTS...
  local output=$1
  shift
  # The wit_dylib_* functions, cabi_realloc and componentize-py-init are
  # exported by their export_name attributes.
  wasm-ld-19 \
    "$lib/crt1-reactor.o" "$@" \
    "$py/lib/libpython3.11.a" "$py/lib/libmpdec.a" "$py/lib/libexpat.a" \
    -L"$lib" -lc -lm -ldl -lwasi-emulated-signal -lwasi-emulated-getpid \
    -lwasi-emulated-process-clocks "$builtins" \
    --entry=_initialize \
    --export-table --growable-table \
    --export=__stack_pointer \
    --export=componentize_py_bindings_data \
    --wrap=__imported_wasi_snapshot_preview1_path_filestat_get \
    --wrap=__imported_wasi_snapshot_preview1_fd_filestat_get \
    --wrap=__imported_wasi_snapshot_preview1_fd_readdir \
    --wrap=__imported_wasi_snapshot_preview1_path_open \
    --wrap=free --wrap=realloc \
    -z stack-size=8388608 ${COMPONENTIZE_PY_EXTRA_LDFLAGS:-} \
    --strip-debug \
    -o "$output"
}
for variant in sync async; do
  objs=()
  mkdir -p "$work/$variant"
  for src in $sources; do
    case "$src" in *.c) ;; *) continue ;; esac
    flags=("${cflags[@]}")
    if [ "$variant" = async ]; then
      flags+=(-DCOMPONENTIZE_PY_ASYNC)
    elif [ "$src" = runtime/async.c ]; then
      continue
    fi
    obj="$work/$variant/$(basename "$src" .c).o"
    clang-19 "${flags[@]}" -c "$root/$src" -o "$obj"
    objs+=("$obj")
  done
  if [ "$variant" = async ]; then
    link "$work/interpreter-async.wasm" "${objs[@]}"
  else
    link "$work/interpreter.wasm" "${objs[@]}"
  fi
done

# ------------------------------------------------------------------ stdlib
# Drop what no component can use: tests, GUIs, installers, the build
# configuration, byte code caches and duplicates (lib-dynload holds copies of
# stdlib modules and is not on sys.path).
mkdir -p "$work/python/lib"
cp -R "$stdlib_src" "$work/python/lib/python3.11"
(
  cd "$work/python/lib/python3.11"
  rm -rf test idlelib tkinter turtledemo ensurepip lib2to3 \
         config-3.11-wasm32-wasi lib-dynload site-packages \
         distutils/tests ctypes/test unittest/test sqlite3/test \
         turtle.py
  find . -name __pycache__ -type d -prune -exec rm -rf {} +
  find . -name '*.pyc' -delete
)

# ------------------------------------------------------------------ install
rm -rf "$out/python" "$wasm" "$wasm_async"
mv "$work/python" "$out/python"
mv "$work/interpreter.wasm" "$wasm"
mv "$work/interpreter-async.wasm" "$wasm_async"
echo "$inputs_hash" > "$stamp"
echo "build-interpreter: built $wasm and $wasm_async" >&2
