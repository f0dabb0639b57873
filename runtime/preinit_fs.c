// A reproducible view of the host file system during pre-initialisation.
//
// The snapshot taken after `componentize-py-init` holds all of linear memory,
// including freed heap blocks and the C stack, so anything the host's file
// system reports ends up in the component: modification times, inode and
// device numbers, and the order in which a directory lists its entries. Two
// checkouts of the same sources differ in all of these.
//
// While `rt_initializing` is set, the WASI calls that report them are wrapped
// (wasm-ld `--wrap`, see cpython/build-interpreter.sh):
// - `path_filestat_get` / `fd_filestat_get`: device, inode and times are
//   zeroed and the link count set to 1;
// - `fd_readdir`: the whole directory is read, sorted by name, inode numbers
//   zeroed, and served with cookies that are entry indices. The entry whose
//   name hashes (FNV-1a, 64 bits) to env COMPONENTIZE_PY_HIDE (16 hex
//   digits) is left out: the compiler passes its output file's name there,
//   so that rebuilding with the output inside a `-p` folder
//   (`-p . -o app.wasm`) sees the same listing. The variable's value is
//   blanked before CPython starts and the hash forgotten at the end, so the
//   output's name leaves no trace in the snapshot.
//   Entries that the import system cannot load are left out too (see
//   `importable`): whatever else lies in a `-p` folder (an earlier build's
//   `other.wasm`, an editor's `.app.py.swp`, `.git`, `BUILD.bazel`) would
//   otherwise reach the snapshot through the path finders' cached listings
//   and every allocation made for them.
// - `path_open` and `path_filestat_get` of a path through a `__pycache__`
//   folder of the host: `ENOENT`, and `fd_readdir` leaves `__pycache__` out.
//   The machine's own Python leaves byte code there (`python3 app.py`, a
//   test run), which would otherwise be read during the import and reach
//   the snapshot. The compiler's own byte code (compiler/src/bytecode.rs) is
//   mounted as preopens of their own at `<folder>/__pycache__`, under
//   which paths name no `__pycache__`, so it stays visible.
// After initialisation the calls pass straight through.

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#include "runtime.h"

int32_t __real___imported_wasi_snapshot_preview1_path_filestat_get(
    int32_t fd, int32_t flags, int32_t path, int32_t path_len, int32_t buf);
int32_t __real___imported_wasi_snapshot_preview1_fd_filestat_get(int32_t fd,
                                                                 int32_t buf);
int32_t __real___imported_wasi_snapshot_preview1_path_open(
    int32_t fd, int32_t dirflags, int32_t path, int32_t path_len,
    int32_t oflags, int64_t fs_rights_base, int64_t fs_rights_inheriting,
    int32_t fdflags, int32_t fd_out);
int32_t __real___imported_wasi_snapshot_preview1_fd_readdir(int32_t fd,
                                                            int32_t buf,
                                                            int32_t buf_len,
                                                            int64_t cookie,
                                                            int32_t bufused);

static void normalize_filestat(__wasi_filestat_t *stat) {
  stat->dev = 0;
  stat->ino = 0;
  stat->nlink = 1;
  stat->atim = 0;
  stat->mtim = 0;
  stat->ctim = 0;
}

// Whether one of the `/`-separated components of `path` is `__pycache__`.
static bool through_pycache(const char *path, uint32_t len) {
  static const char word[] = "__pycache__";
  const uint32_t n = sizeof(word) - 1;
  uint32_t start = 0;
  for (uint32_t i = 0; i <= len; i++) {
    if (i == len || path[i] == '/') {
      if (i - start == n && memcmp(path + start, word, n) == 0) {
        return true;
      }
      start = i + 1;
    }
  }
  return false;
}

int32_t __wrap___imported_wasi_snapshot_preview1_path_open(
    int32_t fd, int32_t dirflags, int32_t path, int32_t path_len,
    int32_t oflags, int64_t fs_rights_base, int64_t fs_rights_inheriting,
    int32_t fdflags, int32_t fd_out) {
  if (rt_initializing &&
      through_pycache((const char *)(uintptr_t)path, (uint32_t)path_len)) {
    return __WASI_ERRNO_NOENT;
  }
  return __real___imported_wasi_snapshot_preview1_path_open(
      fd, dirflags, path, path_len, oflags, fs_rights_base,
      fs_rights_inheriting, fdflags, fd_out);
}

int32_t __wrap___imported_wasi_snapshot_preview1_path_filestat_get(
    int32_t fd, int32_t flags, int32_t path, int32_t path_len, int32_t buf) {
  if (rt_initializing &&
      through_pycache((const char *)(uintptr_t)path, (uint32_t)path_len)) {
    return __WASI_ERRNO_NOENT;
  }
  int32_t err = __real___imported_wasi_snapshot_preview1_path_filestat_get(
      fd, flags, path, path_len, buf);
  if (err == __WASI_ERRNO_SUCCESS && rt_initializing) {
    normalize_filestat((__wasi_filestat_t *)(uintptr_t)buf);
  }
  return err;
}

int32_t __wrap___imported_wasi_snapshot_preview1_fd_filestat_get(int32_t fd,
                                                                 int32_t buf) {
  int32_t err = __real___imported_wasi_snapshot_preview1_fd_filestat_get(fd, buf);
  if (err == __WASI_ERRNO_SUCCESS && rt_initializing) {
    normalize_filestat((__wasi_filestat_t *)(uintptr_t)buf);
  }
  return err;
}

// ------------------------------------------------------------ directories

typedef struct {
  uint8_t type;
  uint32_t namlen;
  char *name; // not NUL-terminated
} entry_t;

// The sorted listing of the directory read last (readdir asks for one
// directory at a time, page by page).
static struct {
  int32_t fd;
  entry_t *entries;
  size_t count;
} listing = {-1, NULL, 0};

static void listing_clear(void) {
  for (size_t i = 0; i < listing.count; i++) {
    free(listing.entries[i].name);
  }
  free(listing.entries);
  listing.fd = -1;
  listing.entries = NULL;
  listing.count = 0;
}

// FNV-1a hash of the name to hide, or 0 (see rt_preinit_fs_begin).
static uint64_t hidden_hash = 0;

static uint64_t fnv1a(const char *name, size_t len) {
  uint64_t hash = 0xcbf29ce484222325u;
  for (size_t i = 0; i < len; i++) {
    hash = (hash ^ (uint8_t)name[i]) * 0x100000001b3u;
  }
  return hash;
}

static bool hidden(const char *name, uint32_t len) {
  return hidden_hash != 0 && fnv1a(name, len) == hidden_hash;
}

static bool ends_with(const char *name, uint32_t len, const char *suffix) {
  size_t n = strlen(suffix);
  return len > n && memcmp(name + len - n, suffix, n) == 0;
}

// Whether `name` can be a module name: ASCII letters, digits and `_`, not
// starting with a digit; bytes of UTF-8 sequences count as letters (Python
// accepts Unicode identifiers).
static bool identifier(const char *name, uint32_t len) {
  if (len == 0 || (name[0] >= '0' && name[0] <= '9')) {
    return false;
  }
  for (uint32_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)name[i];
    if (!(c >= 0x80 || c == '_' || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

// What the import system can load from a folder while the app is imported:
// modules (`*.py`, `*.pyc`; this CPython loads no extension modules),
// packages (a folder named like a module, also a namespace package), and
// the distribution metadata that `importlib.metadata` looks for
// (`*.dist-info`, `*.egg-info`). Hidden names (`.x`) never are. A symlink
// or an entry of unknown type passes when its name fits either rule.
// Files that are not modules can still be opened by name.
static bool importable(const char *name, uint32_t len, uint8_t type) {
  if (len == 0 || name[0] == '.' || through_pycache(name, len)) {
    return false;
  }
  bool module = ends_with(name, len, ".py") || ends_with(name, len, ".pyc");
  bool folder = identifier(name, len) || ends_with(name, len, ".dist-info") ||
                ends_with(name, len, ".egg-info");
  switch (type) {
  case __WASI_FILETYPE_REGULAR_FILE:
    return module || ends_with(name, len, ".egg-info");
  case __WASI_FILETYPE_DIRECTORY:
    return folder;
  default:
    return module || folder;
  }
}

void rt_preinit_fs_begin(void) {
  char *value = getenv("COMPONENTIZE_PY_HIDE");
  if (value == NULL) {
    return;
  }
  hidden_hash = strtoull(value, NULL, 16);
  // Same bytes in every build, whatever the output's name.
  memset(value, '0', strlen(value));
}

void rt_preinit_fs_end(void) {
  hidden_hash = 0;
  listing_clear();
}

static int compare_entries(const void *a, const void *b) {
  const entry_t *x = a, *y = b;
  uint32_t n = x->namlen < y->namlen ? x->namlen : y->namlen;
  int c = memcmp(x->name, y->name, n);
  if (c != 0) {
    return c;
  }
  return (x->namlen > y->namlen) - (x->namlen < y->namlen);
}

// Read every entry of `fd` from the host, then sort them.
static int32_t listing_load(int32_t fd) {
  listing_clear();
  size_t cap = 0;
  size_t buf_len = 64 * 1024;
  uint8_t *buf = malloc(buf_len);
  if (buf == NULL) {
    return __WASI_ERRNO_NOMEM;
  }
  uint64_t cookie = 0;
  for (;;) {
    __wasi_size_t used = 0;
    int32_t err = __real___imported_wasi_snapshot_preview1_fd_readdir(
        fd, (int32_t)(uintptr_t)buf, (int32_t)buf_len, (int64_t)cookie,
        (int32_t)(uintptr_t)&used);
    if (err != __WASI_ERRNO_SUCCESS) {
      free(buf);
      listing_clear();
      return err;
    }
    size_t offset = 0;
    size_t complete = 0; // entries parsed whole in this page
    while (offset + sizeof(__wasi_dirent_t) <= used) {
      __wasi_dirent_t dirent;
      memcpy(&dirent, buf + offset, sizeof dirent);
      if (offset + sizeof dirent + dirent.d_namlen > used) {
        break; // truncated: ask again from this entry's cookie
      }
      cookie = dirent.d_next;
      const char *name = (const char *)buf + offset + sizeof dirent;
      offset += sizeof dirent + dirent.d_namlen;
      complete++;
      if (hidden(name, dirent.d_namlen) ||
          !importable(name, dirent.d_namlen, dirent.d_type)) {
        continue;
      }
      if (listing.count == cap) {
        cap = cap ? cap * 2 : 64;
        entry_t *grown = realloc(listing.entries, cap * sizeof(entry_t));
        if (grown == NULL) {
          free(buf);
          listing_clear();
          return __WASI_ERRNO_NOMEM;
        }
        listing.entries = grown;
      }
      entry_t *e = &listing.entries[listing.count];
      e->type = dirent.d_type;
      e->namlen = dirent.d_namlen;
      e->name = malloc(dirent.d_namlen ? dirent.d_namlen : 1);
      if (e->name == NULL) {
        free(buf);
        listing_clear();
        return __WASI_ERRNO_NOMEM;
      }
      memcpy(e->name, name, dirent.d_namlen);
      listing.count++;
    }
    if (used < buf_len) {
      break; // the host had no more entries
    }
    if (complete == 0) {
      // One entry larger than the buffer: grow it and retry.
      buf_len *= 2;
      uint8_t *grown = realloc(buf, buf_len);
      if (grown == NULL) {
        free(buf);
        listing_clear();
        return __WASI_ERRNO_NOMEM;
      }
      buf = grown;
    }
  }
  // The raw entries hold host inode numbers and cookies (and hidden names);
  // free() wipes them, as it does every block freed during init (heap.c).
  free(buf);
  qsort(listing.entries, listing.count, sizeof(entry_t), compare_entries);
  listing.fd = fd;
  return __WASI_ERRNO_SUCCESS;
}

int32_t __wrap___imported_wasi_snapshot_preview1_fd_readdir(int32_t fd,
                                                            int32_t buf,
                                                            int32_t buf_len,
                                                            int64_t cookie,
                                                            int32_t bufused) {
  if (!rt_initializing) {
    listing_clear();
    return __real___imported_wasi_snapshot_preview1_fd_readdir(
        fd, buf, buf_len, cookie, bufused);
  }
  if (cookie == 0 || listing.fd != fd) {
    int32_t err = listing_load(fd);
    if (err != __WASI_ERRNO_SUCCESS) {
      return err;
    }
  }
  // Serve entries from index `cookie` on; the last one may be cut short, as
  // the WASI API allows (the caller then asks again from its cookie).
  uint8_t *out = (uint8_t *)(uintptr_t)buf;
  size_t len = (size_t)buf_len, used = 0;
  for (size_t i = (size_t)cookie; i < listing.count && used < len; i++) {
    const entry_t *e = &listing.entries[i];
    __wasi_dirent_t dirent;
    memset(&dirent, 0, sizeof dirent); // padding too: it reaches the snapshot
    dirent.d_next = (uint64_t)(i + 1);
    dirent.d_namlen = e->namlen;
    dirent.d_type = e->type;
    size_t n = sizeof dirent < len - used ? sizeof dirent : len - used;
    memcpy(out + used, &dirent, n);
    used += n;
    n = e->namlen < len - used ? e->namlen : len - used;
    memcpy(out + used, e->name, n);
    used += n;
  }
  *(__wasi_size_t *)(uintptr_t)bufused = (__wasi_size_t)used;
  return __WASI_ERRNO_SUCCESS;
}
