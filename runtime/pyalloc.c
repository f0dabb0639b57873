// A small-object allocator for CPython's object and "mem" domains.
//
// This libpython is built without pymalloc, so every Python object, however
// small and short-lived, went through dlmalloc. This is a minimal
// replacement in pymalloc's spirit: blocks of up to SMALL_MAX bytes come
// from per-size-class free lists (8-byte classes, 8-byte aligned, as
// pymalloc on 32-bit targets) carved out of 16 KiB pools; larger requests go
// to malloc. A bitmap over the 4 GiB address space (one bit per pool, 32 KiB
// of bss) tells whether a pointer is in a pool, so pointers from either
// source (or allocated before the allocator was installed) are freed to the
// right place. Pools are never given back.
//
// While `rt_initializing` is set, freed blocks are zeroed, as heap.c does
// for malloc: freed memory ends up in the snapshot.

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define POOL_SHIFT 14
#define POOL_SIZE ((uintptr_t)1 << POOL_SHIFT)
#define POOL_HEADER 16
#define ALIGN_SHIFT 3
#define SMALL_MAX 512
#define NUM_CLASSES (SMALL_MAX >> ALIGN_SHIFT)
// Pools are carved from malloc'd arenas of this many pools (plus one for
// alignment).
#define ARENA_POOLS 16

typedef struct pool {
  uint32_t size_class;
} pool_t;

// The free blocks of a size class, as a stack of pointers kept outside the
// blocks: a freed block is then all zeros in the snapshot, not a zeroed
// block with a list link in it (scattered links would cut the snapshot's
// zero runs into many more, smaller data segments).
typedef struct {
  void **blocks;
  size_t len, cap;
} free_stack_t;

static uint32_t pool_bits[((uintptr_t)1 << (32 - POOL_SHIFT)) / 32];
static free_stack_t free_blocks[NUM_CLASSES];
// The unused tail of the pool each class carves from.
static char *carve_next[NUM_CLASSES];
static char *carve_end[NUM_CLASSES];
// Pools not yet given to a class.
static char *spare_pools = NULL;
static size_t num_spare_pools = 0;

static inline bool in_pool(const void *ptr) {
  uintptr_t index = (uintptr_t)ptr >> POOL_SHIFT;
  return (pool_bits[index >> 5] >> (index & 31)) & 1;
}

static inline size_t class_size(size_t size_class) {
  return (size_class + 1) << ALIGN_SHIFT;
}

static char *new_pool(void) {
  if (num_spare_pools == 0) {
    char *arena = malloc((ARENA_POOLS + 1) * POOL_SIZE);
    if (arena == NULL) {
      return NULL;
    }
    spare_pools =
        (char *)(((uintptr_t)arena + POOL_SIZE - 1) & ~(POOL_SIZE - 1));
    num_spare_pools = ARENA_POOLS;
  }
  char *pool = spare_pools;
  spare_pools += POOL_SIZE;
  num_spare_pools--;
  uintptr_t index = (uintptr_t)pool >> POOL_SHIFT;
  pool_bits[index >> 5] |= (uint32_t)1 << (index & 31);
  return pool;
}

static void *small_alloc(size_t size_class) {
  free_stack_t *stack = &free_blocks[size_class];
  if (stack->len > 0) {
    return stack->blocks[--stack->len];
  }
  size_t size = class_size(size_class);
  char *next = carve_next[size_class];
  if (next == NULL || next + size > carve_end[size_class]) {
    char *pool = new_pool();
    if (pool == NULL) {
      return NULL;
    }
    ((pool_t *)pool)->size_class = (uint32_t)size_class;
    next = pool + POOL_HEADER;
    carve_end[size_class] = pool + POOL_SIZE;
  }
  carve_next[size_class] = next + size;
  return next;
}

static void small_free(void *ptr) {
  pool_t *pool = (pool_t *)((uintptr_t)ptr & ~(POOL_SIZE - 1));
  size_t size_class = pool->size_class;
  if (rt_initializing) {
    memset(ptr, 0, class_size(size_class));
  }
  free_stack_t *stack = &free_blocks[size_class];
  if (stack->len == stack->cap) {
    size_t cap = stack->cap ? stack->cap * 2 : 256;
    void **grown = realloc(stack->blocks, cap * sizeof(void *));
    if (grown == NULL) {
      return; // out of memory: leak the block rather than fail a free
    }
    stack->blocks = grown;
    stack->cap = cap;
  }
  stack->blocks[stack->len++] = ptr;
}

static void *rt_malloc(void *ctx, size_t size) {
  (void)ctx;
  if (size <= SMALL_MAX) {
    void *ptr = small_alloc(size == 0 ? 0 : (size - 1) >> ALIGN_SHIFT);
    if (ptr != NULL) {
      return ptr;
    }
  }
  return malloc(size == 0 ? 1 : size);
}

static void *rt_calloc(void *ctx, size_t nelem, size_t elsize) {
  if (elsize != 0 && nelem > SIZE_MAX / elsize) {
    return NULL;
  }
  size_t size = nelem * elsize;
  if (size > SMALL_MAX) {
    return calloc(nelem, elsize);
  }
  void *ptr = rt_malloc(ctx, size);
  if (ptr != NULL) {
    memset(ptr, 0, size);
  }
  return ptr;
}

static void rt_free(void *ctx, void *ptr) {
  (void)ctx;
  if (ptr == NULL) {
    return;
  }
  if (in_pool(ptr)) {
    small_free(ptr);
  } else {
    free(ptr);
  }
}

static void *rt_realloc(void *ctx, void *ptr, size_t size) {
  if (ptr == NULL) {
    return rt_malloc(ctx, size);
  }
  if (!in_pool(ptr)) {
    return realloc(ptr, size == 0 ? 1 : size);
  }
  pool_t *pool = (pool_t *)((uintptr_t)ptr & ~(POOL_SIZE - 1));
  size_t old = class_size(pool->size_class);
  // Like pymalloc: keep the block unless it is shrunk below 3/4.
  if (size <= old && 4 * size > 3 * old) {
    return ptr;
  }
  void *moved = rt_malloc(ctx, size);
  if (moved == NULL) {
    return NULL;
  }
  memcpy(moved, ptr, size < old ? size : old);
  small_free(ptr);
  return moved;
}

void rt_install_allocator(void) {
  PyMemAllocatorEx allocator = {NULL, rt_malloc, rt_calloc, rt_realloc,
                                rt_free};
  PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &allocator);
  PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &allocator);
}
