// The component model's async ABI (callback form): async exported
// functions, awaitable async imports, waitable sets and subtasks.
//
// Compiled only into the async interpreter (`runtime/interpreter-async.wasm`,
// built with -DCOMPONENTIZE_PY_ASYNC by cpython/build-interpreter.sh), which
// the compiler uses for worlds with an `async` function: this file imports
// the canonical async built-ins (`$root`.`[waitable-set-new]` and friends),
// which a world without async must not import. The event loop itself is
// Python (`componentize_py_async_support`, written next to the bindings);
// this file gives it the built-ins and the lifting and lowering of values.
//
// docs/internals.md, section 6, describes the protocol.

#ifdef COMPONENTIZE_PY_ASYNC

#include "runtime.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- built-ins

#define RT_BUILTIN(name)                                                       \
  __attribute__((import_module("$root"), import_name(name)))

RT_BUILTIN("[waitable-set-new]") extern uint32_t rt_waitable_set_new(void);
RT_BUILTIN("[waitable-set-drop]") extern void rt_waitable_set_drop(uint32_t);
RT_BUILTIN("[waitable-join]") extern void rt_waitable_join(uint32_t, uint32_t);
RT_BUILTIN("[subtask-drop]") extern void rt_subtask_drop(uint32_t);
RT_BUILTIN("[context-get-0]") extern uint32_t rt_context_get(void);
RT_BUILTIN("[context-set-0]") extern void rt_context_set(uint32_t);

// Subtask states in the status an async-lowered import returns (low 4 bits;
// the subtask handle is in the rest).
#define RT_SUBTASK_RETURNED 2

// ---------------------------------------------------------------- helpers

// `componentize_py_async_support`'s entry points (owned, looked up once).
static PyObject *first_poll_fn, *callback_fn;

static PyObject *support_attr(const char *name) {
  PyObject *module = PyImport_ImportModule("componentize_py_async_support");
  if (module == NULL) {
    rt_fatal_python("error: importing componentize_py_async_support (the "
                    "bindings of an async world write it next to the package)");
  }
  PyObject *attr = PyObject_GetAttrString(module, name);
  Py_DECREF(module);
  if (attr == NULL) {
    rt_fatal_python("error: componentize_py_async_support is incomplete");
  }
  return attr;
}

void rt_async_init(void) {
  first_poll_fn = support_attr("first_poll");
  callback_fn = support_attr("callback");
  rt_streams_init();
}

static uint32_t code_from(PyObject *ret, const wit_export_func_t *func) {
  if (ret == NULL) {
    const char *iface = func->interface;
    rt_print_exception();
    rt_flush_stdio();
    rt_fatal("error: the async export '%s%s%s' raised an exception "
             "(traceback above)",
             iface ? iface : "", iface ? "#" : "", func->name);
  }
  unsigned long code = PyLong_AsUnsignedLong(ret);
  Py_DECREF(ret);
  if (code == (unsigned long)-1 && PyErr_Occurred()) {
    rt_fatal_python("error: the async event loop returned a bad code");
  }
  rt_flush_stdio();
  return (uint32_t)code;
}

// ---------------------------------------------------------------- exports

// Called by the bindings library with the lifted arguments on `cx`'s stack;
// `cx` is ours from now on: it lives until `call_task_return` (it holds the
// borrows the task received, which are released when the task returns).
// Returns the callback code (EXIT, or WAIT with a waitable set).
RT_EXPORT("wit_dylib_export_async_call")
uint32_t rt_export_async_call(void *cx_, size_t which) {
  rt_cx_t *cx = cx_;
  const wit_export_func_t *func = &rt_wit->export_funcs[which];
  if (rt_export_methods[which] == NULL) {
    rt_fatal("error: componentize-py runtime: export '%s' is not resolved",
             func->name);
  }
  size_t nparams = func->nparams;
  PyObject *params = PyTuple_New((Py_ssize_t)nparams);
  if (params == NULL) {
    rt_fatal_python("error: out of memory (componentize-py runtime)");
  }
  for (size_t i = nparams; i > 0; i--) {
    PyTuple_SET_ITEM(params, (Py_ssize_t)(i - 1), rt_cx_pop(cx));
  }
  PyObject *coroutine;
  if (rt_export_is_method[which]) {
    if (nparams == 0) {
      rt_fatal("error: resource method '%s' has no receiver", func->name);
    }
    PyObject *self = PyTuple_GET_ITEM(params, 0);
    PyObject *method = PyObject_GetAttr(self, rt_export_methods[which]);
    PyObject *rest = PyTuple_GetSlice(params, 1, (Py_ssize_t)nparams);
    coroutine = method && rest ? PyObject_Call(method, rest, NULL) : NULL;
    Py_XDECREF(method);
    Py_XDECREF(rest);
  } else {
    coroutine = PyObject_Call(rt_export_methods[which], params, NULL);
  }
  Py_DECREF(params);
  if (coroutine == NULL) {
    return code_from(NULL, func);
  }
  if (first_poll_fn == NULL) {
    first_poll_fn = support_attr("first_poll");
  }
  PyObject *ret = PyObject_CallFunction(first_poll_fn, "nnN", (Py_ssize_t)which,
                                        (Py_ssize_t)(uintptr_t)cx, coroutine);
  return code_from(ret, func);
}

// The `[callback]` of every async export: an event for the task that is
// current (its state is in context slot 0).
RT_EXPORT("wit_dylib_export_async_callback")
uint32_t rt_export_async_callback(uint32_t event, uint32_t waitable,
                                  uint32_t code, uint32_t which) {
  const wit_export_func_t *func = &rt_wit->export_funcs[which];
  if (callback_fn == NULL) {
    callback_fn = support_attr("callback");
  }
  PyObject *ret =
      PyObject_CallFunction(callback_fn, "III", event, waitable, code);
  return code_from(ret, func);
}

// call_task_return(index, cx, value, is_err): releases the task's borrows,
// then returns `value` through the export's `task.return`. For a top-level
// `result` a returned value is the `ok` case and a raised Err (`is_err`) the
// `err` case; for any other result type a raised Err is an error.
static PyObject *call_task_return(PyObject *self, PyObject *args) {
  (void)self;
  Py_ssize_t which, cx_addr;
  PyObject *value;
  int is_err;
  if (!PyArg_ParseTuple(args, "nnOp", &which, &cx_addr, &value, &is_err)) {
    return NULL;
  }
  if (which < 0 || (size_t)which >= rt_wit->num_export_funcs) {
    PyErr_Format(PyExc_IndexError, "no exported function %zd", which);
    return NULL;
  }
  const wit_export_func_t *func = &rt_wit->export_funcs[which];
  bool is_result = rt_is_result_type(func->result);
  if (is_err && !is_result) {
    PyErr_SetObject((PyObject *)Py_TYPE(value), value);
    return NULL;
  }
  PyObject *returned;
  if (is_result && !is_err) {
    returned = PyObject_CallOneArg(rt_ok, value);
    if (returned == NULL) {
      return NULL;
    }
  } else {
    returned = value;
    Py_INCREF(returned);
  }
  rt_cx_t *task_cx = (rt_cx_t *)(uintptr_t)cx_addr;
  rt_cx_release_lent(task_cx);
  rt_cx_t *cx = rt_cx_new();
  if (!RT_TYPE_IS_EMPTY(func->result)) {
    rt_cx_push(cx, returned);
  } else {
    Py_DECREF(returned);
  }
  func->task_return(cx);
  rt_cx_free(cx);
  rt_cx_free(task_cx);
  Py_RETURN_NONE;
}

// ---------------------------------------------------------------- imports

// What an async import call keeps until its subtask returns.
typedef struct {
  const wit_import_func_t *func;
  rt_cx_t *cx;
  void *area;
} rt_pending_t;

static void *alloc_area(const wit_import_func_t *func) {
  size_t align = func->async_abi_area_align ? func->async_abi_area_align : 1;
  size_t size = func->async_abi_area_size ? func->async_abi_area_size : 1;
  void *area = aligned_alloc(align < 16 ? 16 : align, (size + 15) & ~(size_t)15);
  if (area == NULL) {
    rt_fatal("error: out of memory (componentize-py runtime)");
  }
  memset(area, 0, size);
  return area;
}

// Lifts the result of a finished call and frees what it kept. The result
// of a top-level `result` type is unwrapped by the Python caller.
static PyObject *finish_import(rt_pending_t *call) {
  call->func->async_lift_impl(call->cx, call->area);
  PyObject *result;
  if (!RT_TYPE_IS_EMPTY(call->func->result)) {
    result = rt_cx_pop(call->cx);
  } else {
    result = Py_None;
    Py_INCREF(result);
  }
  rt_cx_free(call->cx);
  free(call->area);
  return result;
}

// call_import_async(index, args) -> (0, result) when the import finished at
// once, else (subtask, promise): await the subtask's RETURNED event, then
// call promise_get_result(promise).
static PyObject *call_import_async(PyObject *self, PyObject *args) {
  (void)self;
  Py_ssize_t index;
  PyObject *params;
  if (!PyArg_ParseTuple(args, "nO!", &index, &PyTuple_Type, &params)) {
    return NULL;
  }
  if (index < 0 || (size_t)index >= rt_wit->num_import_funcs) {
    PyErr_Format(PyExc_IndexError, "no imported function %zd", index);
    return NULL;
  }
  const wit_import_func_t *func = &rt_wit->import_funcs[index];
  if (func->async_impl == NULL) {
    PyErr_Format(PyExc_TypeError, "imported function '%s' is not async",
                 func->name);
    return NULL;
  }
  if ((size_t)PyTuple_GET_SIZE(params) != func->nparams) {
    PyErr_Format(PyExc_TypeError, "%s() takes %zu arguments (%zd given)",
                 func->name, func->nparams, PyTuple_GET_SIZE(params));
    return NULL;
  }
  rt_pending_t call = {func, rt_cx_new(), alloc_area(func)};
  for (size_t i = func->nparams; i > 0; i--) {
    PyObject *arg = PyTuple_GET_ITEM(params, i - 1);
    Py_INCREF(arg);
    rt_cx_push(call.cx, arg);
  }
  uint32_t status = func->async_impl(call.cx, call.area);
  if ((status & 0xf) == RT_SUBTASK_RETURNED) {
    PyObject *result = finish_import(&call);
    return Py_BuildValue("(iN)", 0, result);
  }
  rt_pending_t *pending = malloc(sizeof *pending);
  if (pending == NULL) {
    rt_fatal("error: out of memory (componentize-py runtime)");
  }
  *pending = call;
  return Py_BuildValue("(kn)", (unsigned long)(status >> 4),
                       (Py_ssize_t)(uintptr_t)pending);
}

static PyObject *promise_get_result(PyObject *self, PyObject *arg) {
  (void)self;
  Py_ssize_t addr = PyLong_AsSsize_t(arg);
  if (addr == -1 && PyErr_Occurred()) {
    return NULL;
  }
  rt_pending_t *pending = (rt_pending_t *)(uintptr_t)addr;
  PyObject *result = finish_import(pending);
  free(pending);
  return result;
}

// ---------------------------------------------------------------- waitables

static bool u32_arg(PyObject *arg, uint32_t *out) {
  unsigned long value = PyLong_AsUnsignedLong(arg);
  if (value == (unsigned long)-1 && PyErr_Occurred()) {
    return false;
  }
  *out = (uint32_t)value;
  return true;
}

static PyObject *waitable_set_new(PyObject *self, PyObject *unused) {
  (void)self, (void)unused;
  return PyLong_FromUnsignedLong(rt_waitable_set_new());
}

static PyObject *waitable_set_drop(PyObject *self, PyObject *arg) {
  (void)self;
  uint32_t set;
  if (!u32_arg(arg, &set)) {
    return NULL;
  }
  rt_waitable_set_drop(set);
  Py_RETURN_NONE;
}

static PyObject *waitable_join(PyObject *self, PyObject *args) {
  (void)self;
  unsigned int waitable, set;
  if (!PyArg_ParseTuple(args, "II", &waitable, &set)) {
    return NULL;
  }
  rt_waitable_join(waitable, set);
  Py_RETURN_NONE;
}

static PyObject *subtask_drop(PyObject *self, PyObject *arg) {
  (void)self;
  uint32_t task;
  if (!u32_arg(arg, &task)) {
    return NULL;
  }
  rt_subtask_drop(task);
  Py_RETURN_NONE;
}

// Context slot 0 holds a strong reference to the task's state object (or 0).
static PyObject *context_set(PyObject *self, PyObject *value) {
  (void)self;
  if (value == Py_None) {
    rt_context_set(0);
  } else {
    Py_INCREF(value);
    rt_context_set((uint32_t)(uintptr_t)value);
  }
  Py_RETURN_NONE;
}

// Takes the reference the slot held: the caller clears or sets it again.
static PyObject *context_get(PyObject *self, PyObject *unused) {
  (void)self, (void)unused;
  uint32_t value = rt_context_get();
  if (value == 0) {
    Py_RETURN_NONE;
  }
  return (PyObject *)(uintptr_t)value;
}

static PyMethodDef async_methods[] = {
    {"call_task_return", call_task_return, METH_VARARGS,
     "call_task_return(index, cx, value): return from async export `index`"},
    {"call_import_async", call_import_async, METH_VARARGS,
     "call_import_async(index, args) -> (0, result) | (subtask, promise)"},
    {"promise_get_result", promise_get_result, METH_O,
     "promise_get_result(promise): the result of a returned async import"},
    {"waitable_set_new", waitable_set_new, METH_NOARGS, "waitable-set.new"},
    {"waitable_set_drop", waitable_set_drop, METH_O, "waitable-set.drop"},
    {"waitable_join", waitable_join, METH_VARARGS, "waitable.join"},
    {"subtask_drop", subtask_drop, METH_O, "subtask.drop"},
    {"context_get", context_get, METH_NOARGS,
     "context.get 0 (takes the reference the slot held)"},
    {"context_set", context_set, METH_O, "context.set 0"},
    {NULL, NULL, 0, NULL},
};

int rt_async_add_functions(PyObject *module) {
  return PyModule_AddFunctions(module, async_methods);
}

#endif
