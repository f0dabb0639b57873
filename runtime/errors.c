// Fatal errors: print what went wrong to stderr, flush, trap.

#include "runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void flush_python_stream(const char *name) {
  PyObject *stream = PySys_GetObject(name); // borrowed
  if (stream == NULL || stream == Py_None) {
    return;
  }
  PyObject *result = PyObject_CallMethod(stream, "flush", NULL);
  if (result == NULL) {
    PyErr_Clear();
  } else {
    Py_DECREF(result);
  }
}

void rt_flush_stdio(void) {
  if (Py_IsInitialized()) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    flush_python_stream("stdout");
    flush_python_stream("stderr");
    PyErr_Restore(type, value, traceback);
  }
  fflush(stdout);
  fflush(stderr);
}

void rt_print_exception(void) {
  if (!Py_IsInitialized() || !PyErr_Occurred()) {
    return;
  }
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (traceback != NULL && value != NULL) {
    if (PyException_SetTraceback(value, traceback) < 0) {
      PyErr_Clear();
    }
  }
  // PyErr_Display (unlike PyErr_Print) does not turn SystemExit into exit().
  PyErr_Display(type, value, traceback);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(traceback);
  PyErr_Clear();
}

_Noreturn void rt_fatal(const char *format, ...) {
  rt_flush_stdio();
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
  fflush(stderr);
  abort();
}

_Noreturn void rt_fatal_python(const char *context) {
  rt_print_exception();
  rt_flush_stdio();
  if (context != NULL) {
    fprintf(stderr, "%s\n", context);
  }
  fflush(stderr);
  abort();
}
