// The builtin module `componentize_py_runtime`: Python's way to call WIT
// imports (`call_import(index, args)`, index into wit_t.import_funcs).

#include "runtime.h"

// Converts the popped result of a call whose WIT result is a top-level
// `result`: Ok(v) -> v, Err(e) -> raise e. Steals `value`.
static PyObject *unwrap_result(PyObject *value) {
  int is_ok = PyObject_IsInstance(value, rt_ok);
  if (is_ok < 0) {
    Py_DECREF(value);
    return NULL;
  }
  if (is_ok) {
    PyObject *ok = PyObject_GetAttrString(value, "value");
    Py_DECREF(value);
    return ok;
  }
  int is_err = PyObject_IsInstance(value, rt_err);
  if (is_err < 0) {
    Py_DECREF(value);
    return NULL;
  }
  if (is_err && PyExceptionInstance_Check(value)) {
    PyErr_SetObject((PyObject *)Py_TYPE(value), value);
    Py_DECREF(value);
    return NULL;
  }
  PyErr_Format(PyExc_TypeError,
               "componentize-py runtime: expected Ok or Err (an exception), "
               "got %R",
               value);
  Py_DECREF(value);
  return NULL;
}

static PyObject *call_import(PyObject *self, PyObject *const *args,
                             Py_ssize_t nargs) {
  (void)self;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError,
                    "call_import(index, args) takes exactly 2 arguments");
    return NULL;
  }
  Py_ssize_t index = PyLong_AsSsize_t(args[0]);
  if (index == -1 && PyErr_Occurred()) {
    return NULL;
  }
  PyObject *params = args[1];
  if (!PyTuple_Check(params)) {
    PyErr_SetString(PyExc_TypeError, "call_import: args must be a tuple");
    return NULL;
  }
  if (rt_wit == NULL || index < 0 ||
      (size_t)index >= rt_wit->num_import_funcs) {
    PyErr_Format(PyExc_IndexError, "call_import: no imported function %zd",
                 index);
    return NULL;
  }
  const wit_import_func_t *func = &rt_wit->import_funcs[index];
  if (func->impl == NULL) {
    PyErr_Format(PyExc_NotImplementedError,
                 "async imported function '%s' is not supported yet",
                 func->name);
    return NULL;
  }
  if ((size_t)PyTuple_GET_SIZE(params) != func->nparams) {
    PyErr_Format(PyExc_TypeError, "%s() takes %zu arguments (%zd given)",
                 func->name, func->nparams, PyTuple_GET_SIZE(params));
    return NULL;
  }

  // The bindings lower the parameters in order, popping each one: the first
  // argument must be on top of the stack.
  rt_cx_t *cx = rt_cx_new();
  for (size_t i = func->nparams; i > 0; i--) {
    PyObject *arg = PyTuple_GET_ITEM(params, i - 1);
    Py_INCREF(arg);
    rt_cx_push(cx, arg);
  }
  func->impl(cx);

  PyObject *result;
  if (!RT_TYPE_IS_EMPTY(func->result)) {
    result = rt_cx_pop(cx);
  } else {
    result = Py_None;
    Py_INCREF(result);
  }
  if (cx->len != 0) {
    rt_fatal("error: componentize-py runtime: %zu values left on the stack "
             "after calling import '%s'",
             cx->len, func->name);
  }
  // Frees the lowered parameters (deferred) and releases kept objects.
  rt_cx_free(cx);

  if (rt_is_result_type(func->result)) {
    return unwrap_result(result);
  }
  return result;
}

static PyMethodDef runtime_methods[] = {
    {"call_import", (PyCFunction)(void (*)(void))call_import, METH_FASTCALL,
     "call_import(index, args): call WIT imported function `index`"},
    {"resource_drop", (PyCFunction)(void (*)(void))rt_py_resource_drop,
     METH_FASTCALL,
     "resource_drop(index, obj): drop the handle of imported resource "
     "`index` that `obj` owns, if any"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef runtime_module = {
    PyModuleDef_HEAD_INIT,
    "componentize_py_runtime",
    "componentize-py runtime support",
    -1,
    runtime_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit_componentize_py_runtime(void) {
#ifdef COMPONENTIZE_PY_ASYNC
  PyObject *module = PyModule_Create(&runtime_module);
  if (module != NULL && (rt_async_add_functions(module) < 0 ||
                         rt_streams_add_functions(module) < 0)) {
    Py_CLEAR(module);
  }
  return module;
#else
  return PyModule_Create(&runtime_module);
#endif
}
