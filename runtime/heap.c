// Zero freed heap memory while `componentize-py-init` runs.
//
// The snapshot holds all of linear memory, and this CPython build has no
// pymalloc: every Python object lives in wasi-libc's dlmalloc heap. Freed
// blocks keep their old contents (dead objects, source text read while
// importing, temporary buffers), and those bytes would end up in the
// component's data segments. Zeroed, they cost nothing: the snapshot leaves
// zero runs out of its data segments.
//
// So while `rt_initializing` is set, `free` and `realloc` are wrapped
// (wasm-ld `--wrap`, see cpython/build-interpreter.sh): `free` clears the
// block first; `realloc` clears the tail it gives up when shrinking and,
// when growing, allocates a new block, copies, and frees the old one through
// the zeroing `free` (dlmalloc's own realloc would free the old block
// without clearing it). Calls inside dlmalloc itself are not wrapped, which
// is fine: it only frees through the wrapped entry points' callers.
// After initialisation both pass straight through.

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

void __real_free(void *ptr);
void *__real_realloc(void *ptr, size_t size);

void __wrap_free(void *ptr) {
  if (ptr != NULL && rt_initializing) {
    explicit_bzero(ptr, malloc_usable_size(ptr));
  }
  __real_free(ptr);
}

void *__wrap_realloc(void *ptr, size_t size) {
  if (!rt_initializing || ptr == NULL || size == 0) {
    if (ptr != NULL && size == 0 && rt_initializing) {
      explicit_bzero(ptr, malloc_usable_size(ptr));
    }
    return __real_realloc(ptr, size);
  }
  size_t old = malloc_usable_size(ptr);
  if (size <= old) {
    explicit_bzero((char *)ptr + size, old - size);
    return __real_realloc(ptr, size);
  }
  void *grown = malloc(size);
  if (grown == NULL) {
    return NULL;
  }
  memcpy(grown, ptr, old);
  __wrap_free(ptr);
  return grown;
}
