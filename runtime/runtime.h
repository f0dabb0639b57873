// Internal declarations shared by the runtime's C files.
//
// The runtime implements the interpreter side of wit-dylib 0.263 (see
// wit_dylib.h and docs/internals.md, sections 1 and 4) over the CPython C API.

#ifndef COMPONENTIZE_PY_RUNTIME_H
#define COMPONENTIZE_PY_RUNTIME_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wit_dylib.h"

// "No type" (a case without payload, a function without result). wit-dylib
// encodes it as all ones (u32::MAX), so compare the kind byte, not the value.
#define RT_TYPE_IS_EMPTY(ty) (WIT_TYPE_KIND(ty) == WIT_TYPE_EMPTY)

// Export a function from the core module under exactly `name`.
#define RT_EXPORT(name) __attribute__((export_name(name)))

// ---------------------------------------------------------------- errors

// Print `message` (printf-style) to stderr, flush, and trap.
_Noreturn void rt_fatal(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

// Print the pending Python exception (if any) with its traceback, then
// `context` if not NULL, flush, and trap.
_Noreturn void rt_fatal_python(const char *context);

// rt_fatal_python with a printf-style context (init.c).
_Noreturn void rt_fatal_pythonf(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

// Print the pending Python exception with its traceback to sys.stderr and
// clear it. Unlike PyErr_Print, SystemExit does not exit the process.
void rt_print_exception(void);

// Flush sys.stdout, sys.stderr and C stdio; never fails.
void rt_flush_stdio(void);

// Remembers sys.stdout and sys.stderr as CPython created them (unbuffered,
// see errors.c), which rt_flush_stdio then need not flush. Called by
// componentize-py-init right after CPython starts.
void rt_stdio_init(void);

// Makes CPython's object and mem domains allocate small blocks from pools
// (pyalloc.c); called before CPython starts.
void rt_install_allocator(void);

// ---------------------------------------------------------------- state

// The bindings library's metadata (set by wit_dylib_initialize).
extern const wit_t *rt_wit;

// True while `componentize-py-init` runs (see preinit_fs.c).
extern bool rt_initializing;
// Start and end of the reproducible file system view (preinit_fs.c).
void rt_preinit_fs_begin(void);
void rt_preinit_fs_end(void);

// The registry module, `<package>._registry`, `<package>` being the
// generated bindings package named by env COMPONENTIZE_PY_WORLD_MODULE at
// pre-initialisation (set by componentize-py-init).
#define RT_REGISTRY_NAME_MAX 256
extern char rt_registry_name[RT_REGISTRY_NAME_MAX];

// From the registry (owned references, set by componentize-py-init).
extern PyObject *rt_records;  // list of (class, attribute names)
extern PyObject *rt_flags;    // list of enum.Flag classes
extern PyObject *rt_enums;    // list of enum.Enum classes
extern PyObject *rt_variants; // list of tuples of case classes
extern PyObject *rt_some;     // class Some
extern PyObject *rt_ok;       // class Ok
extern PyObject *rt_err;      // class Err

// Per export function (owned, length num_export_funcs): the callable to
// call with the arguments, or, for a resource method (`[method]r.m`), the
// method name (a str) looked up on the first argument (docs/internals.md,
// section 3, "Resources").
extern PyObject **rt_export_methods;
extern bool *rt_export_is_method;

// Per resource (owned, length num_resources): the Python class. An imported
// resource's class is the generated one (instances hold the handle in
// `_wit_handle` when owned, `_wit_borrow` when borrowed); an exported one's
// is the app's implementation (the rep is the object's address).
extern PyObject **rt_resource_classes;

// Resolves the registry's RESOURCES (imported: the class; exported:
// (module, class) of the app's implementation); fatal with a message naming
// what is missing.
void rt_resolve_resources(PyObject *registry);

// True when resource `ty` is implemented by this component (exported).
bool rt_resource_is_exported(size_t ty);

// Follows aliases: the type `ty` really denotes.
wit_type_t rt_resolve_type(wit_type_t ty);

// True when `ty` (after aliases) is a `result`: as a function's result it is
// unwrapped (return -> ok, raised Err -> err).
bool rt_is_result_type(wit_type_t ty);

// Called at the start of every export call; the first time at run time it
// refreshes os.environ, sys.argv and the `random` seed (section 4).
void rt_runtime_refresh_once(void);

// ---------------------------------------------------------------- call context

// A call context (`cx`): the value stack of one import or export call, the
// objects whose memory the canonical ABI still reads (strings, bytes) and
// the allocations to free when the call is over.
typedef struct rt_cx {
  PyObject **stack;
  size_t len, cap;
  PyObject **keep;
  size_t nkeep, capkeep;
  void **deferred;
  size_t ndeferred, capdeferred;
  // Handles to drop when the call is over: borrowed handles of imported
  // resources received by an export (`obj` is the Python object to
  // invalidate) and handles of exported resources lent to an import (`obj`
  // NULL).
  struct rt_lent {
    size_t ty;
    uint32_t handle;
    PyObject *obj;
  } *lent;
  size_t nlent, caplent;
} rt_cx_t;

rt_cx_t *rt_cx_new(void);
// Releases everything the context holds (stack leftovers, kept objects,
// deferred allocations) and the context itself.
void rt_cx_free(rt_cx_t *cx);
// Pushes `obj`, stealing the reference; `obj` NULL means a Python error is
// pending, which is fatal.
void rt_cx_push(rt_cx_t *cx, PyObject *obj);
// Pops the top value; the caller owns the returned reference.
PyObject *rt_cx_pop(rt_cx_t *cx);
// Keeps `obj` alive until the context is freed (steals the reference).
void rt_cx_keep(rt_cx_t *cx, PyObject *obj);
void rt_cx_defer_free(rt_cx_t *cx, void *ptr);
// Drops the handles listed in `cx->lent` (done when an export's Python code
// returns, and by rt_cx_free).
void rt_cx_release_lent(rt_cx_t *cx);
void rt_cx_add_lent(rt_cx_t *cx, size_t ty, uint32_t handle, PyObject *obj);
// Grows `array` (of `elem`-byte items, capacity `*cap`) to hold `needed`.
void *rt_grow(void *array, size_t *cap, size_t needed, size_t elem);

// ---------------------------------------------------------------- module

PyMODINIT_FUNC PyInit_componentize_py_runtime(void);

// `componentize_py_runtime.resource_drop(index, obj)`: drop the handle an
// imported resource object owns, if any (at most once).
PyObject *rt_py_resource_drop(PyObject *self, PyObject *const *args,
                              Py_ssize_t nargs);

#ifdef COMPONENTIZE_PY_ASYNC
// Adds the async ABI's functions (async.c) to `componentize_py_runtime`.
int rt_async_add_functions(PyObject *module);
// Imports `componentize_py_async_support` and keeps its entry points
// (componentize-py-init, after the app).
void rt_async_init(void);

// ---------------------------------------------------------------- streams

// Adds the stream and future functions (streams.c) to
// `componentize_py_runtime`.
int rt_streams_add_functions(PyObject *module);
// Loads the reader classes of `componentize_py_async_support` when the
// world has streams or futures (rt_async_init).
void rt_streams_init(void);

// Handles and readers in values (values.c forwards wit-dylib's hooks here).
void rt_push_stream(rt_cx_t *cx, size_t ty, uint32_t handle);
void rt_push_future(rt_cx_t *cx, size_t ty, uint32_t handle);
uint32_t rt_pop_stream(rt_cx_t *cx, size_t ty);
uint32_t rt_pop_future(rt_cx_t *cx, size_t ty);

// A handle that lowering a value moved out of its Python object, kept while
// the value is written to a stream or future: if the reader does not take
// the value, the handle goes back (streams.c).
enum {
  RT_MOVE_IMPORTED, // `obj`, an imported resource, gets `_wit_handle` back
  RT_MOVE_EXPORTED, // the handle made for an exported resource is dropped
  RT_MOVE_READER,   // `obj`, a stream or future reader, gets it back
};
typedef struct {
  int kind;
  size_t ty;
  uint32_t handle;
  PyObject *obj; // owned, or NULL
} rt_move_t;
typedef struct {
  rt_move_t *items;
  size_t len, cap;
} rt_moves_t;
// Where moves are recorded while a stream or future payload is lowered
// (NULL otherwise: nothing comes back from an argument or a result).
extern rt_moves_t *rt_moves;
// Records a move when rt_moves is set; steals `obj` either way.
void rt_moves_record(int kind, size_t ty, uint32_t handle, PyObject *obj);
#endif

#endif
