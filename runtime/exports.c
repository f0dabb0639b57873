// Entry points of wit-dylib: initialisation, memory, exported functions.

#include "runtime.h"

#include <stdlib.h>
#include <string.h>

// The area the merge places the bindings library's data in (exported as the
// global `componentize_py_bindings_data`; docs/internals.md, section 1).
#define BINDINGS_DATA_CAPACITY (1 << 20)
__attribute__((aligned(16), used)) unsigned char
    componentize_py_bindings_data[BINDINGS_DATA_CAPACITY];

const wit_t *rt_wit = NULL;

RT_EXPORT("wit_dylib_initialize")
void wit_dylib_initialize(const wit_t *wit) {
  if (wit->version != WIT_CURRENT_VERSION) {
    rt_fatal("error: the bindings library has wit_t version %u, the runtime "
             "expects %u",
             (unsigned)wit->version, (unsigned)WIT_CURRENT_VERSION);
  }
  rt_wit = wit;
}

// ---------------------------------------------------------------- memory

// Zero-sized allocations are never real: they return `align` (non-null,
// aligned) and are never freed.
RT_EXPORT("cabi_realloc")
void *cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
  if (new_size == 0) {
    if (ptr != NULL && old_size != 0) {
      free(ptr);
    }
    return (void *)align;
  }
  if (old_size == 0) {
    ptr = NULL;
  }
  void *result;
  if (align <= 16) {
    // wasi-libc's malloc aligns to 16.
    result = realloc(ptr, new_size);
  } else {
    result = aligned_alloc(align, (new_size + align - 1) & ~(align - 1));
    if (result != NULL && ptr != NULL) {
      memcpy(result, ptr, old_size < new_size ? old_size : new_size);
      free(ptr);
    }
  }
  if (result == NULL) {
    rt_fatal("error: out of memory (cabi_realloc of %zu bytes)", new_size);
  }
  return result;
}

RT_EXPORT("wit_dylib_dealloc_bytes")
void wit_dylib_dealloc_bytes(void *cx, void *ptr, size_t byte_size,
                             size_t align, bool defer) {
  (void)align;
  if (byte_size == 0 || ptr == NULL) {
    return;
  }
  if (defer) {
    rt_cx_defer_free(cx, ptr);
  } else {
    free(ptr);
  }
}

// ---------------------------------------------------------------- exports

RT_EXPORT("wit_dylib_export_start") void *wit_dylib_export_start(size_t which) {
  if (rt_wit == NULL || rt_export_methods == NULL) {
    rt_fatal("error: componentize-py runtime: export called before "
             "initialisation");
  }
  if (which >= rt_wit->num_export_funcs) {
    rt_fatal("error: componentize-py runtime: no exported function %zu",
             which);
  }
  rt_runtime_refresh_once();
  return rt_cx_new();
}

RT_EXPORT("wit_dylib_export_call")
void wit_dylib_export_call(void *cx_, size_t which) {
  rt_cx_t *cx = cx_;
  const wit_export_func_t *func = &rt_wit->export_funcs[which];

  if (rt_export_methods[which] == NULL) {
    rt_fatal("error: componentize-py runtime: export '%s' is not resolved",
             func->name);
  }
  // The arguments go to a vectorcall in a C array (no tuple), with one free
  // slot in front (PY_VECTORCALL_ARGUMENTS_OFFSET) so that calling the bound
  // method need not copy them to prepend `self`.
  size_t nparams = func->nparams;
  PyObject *small[8];
  PyObject **slots = small;
  if (nparams + 1 > sizeof small / sizeof small[0]) {
    slots = malloc((nparams + 1) * sizeof(PyObject *));
    if (slots == NULL) {
      rt_fatal("error: out of memory (componentize-py runtime)");
    }
  }
  PyObject **args = slots + 1;
  // The bindings lift the parameters in order: the last one is on top.
  for (size_t i = nparams; i > 0; i--) {
    args[i - 1] = rt_cx_pop(cx);
  }
  PyObject *ret;
  if (rt_export_is_method[which]) {
    // `[method]r.m`: the first argument is the object (from a borrow).
    if (nparams == 0) {
      rt_fatal("error: resource method '%s' has no receiver", func->name);
    }
    ret = PyObject_VectorcallMethod(rt_export_methods[which], args,
                                    nparams | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                    NULL);
  } else {
    ret = PyObject_Vectorcall(rt_export_methods[which], args,
                              nparams | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
  }
  for (size_t i = 0; i < nparams; i++) {
    Py_DECREF(args[i]);
  }
  if (slots != small) {
    free(slots);
  }
  // Borrowed handles must be dropped before the export returns.
  if (ret == NULL) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    rt_cx_release_lent(cx);
    PyErr_Restore(type, value, traceback);
  } else {
    rt_cx_release_lent(cx);
  }
  // Nothing flushes at exit at run time: flush after every export call.
  rt_flush_stdio();

  bool is_result = rt_is_result_type(func->result);
  if (ret == NULL) {
    if (is_result && PyErr_ExceptionMatches(rt_err)) {
      // A raised Err(e) is the `err` case: push the Err instance itself,
      // wit_dylib_pop_result reads its `value`.
      PyObject *type, *value, *traceback;
      PyErr_Fetch(&type, &value, &traceback);
      PyErr_NormalizeException(&type, &value, &traceback);
      Py_XDECREF(type);
      Py_XDECREF(traceback);
      if (value == NULL) {
        rt_fatal("error: Err raised without a value");
      }
      rt_cx_push(cx, value);
      return;
    }
    const char *iface = func->interface;
    rt_print_exception();
    rt_flush_stdio();
    rt_fatal("error: the export '%s%s%s' raised an exception (traceback "
             "above)",
             iface ? iface : "", iface ? "#" : "", func->name);
  }
  if (RT_TYPE_IS_EMPTY(func->result)) {
    Py_DECREF(ret);
  } else if (is_result) {
    PyObject *ok = PyObject_CallOneArg(rt_ok, ret);
    Py_DECREF(ret);
    rt_cx_push(cx, ok);
  } else {
    rt_cx_push(cx, ret);
  }
}

RT_EXPORT("wit_dylib_export_finish")
void wit_dylib_export_finish(void *cx, size_t which) {
  (void)which;
  rt_cx_free(cx);
}

// The actual wasm signatures of the async entry points (bindgen.rs); they are
// not in wit_dylib.h. The async interpreter defines them in async.c.
#ifndef COMPONENTIZE_PY_ASYNC
RT_EXPORT("wit_dylib_export_async_call")
uint32_t rt_export_async_call(void *cx, size_t which) {
  (void)cx, (void)which;
  rt_fatal("error: async exported functions are not supported yet");
}

RT_EXPORT("wit_dylib_export_async_callback")
uint32_t rt_export_async_callback(uint32_t a, uint32_t b, uint32_t c,
                                  uint32_t d) {
  (void)a, (void)b, (void)c, (void)d;
  rt_fatal("error: async exported functions are not supported yet");
}
#endif
