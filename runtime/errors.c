// Fatal errors: print what went wrong to stderr, flush, trap.

#include "runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structmember.h"

// sys.stdout and sys.stderr as CPython created them at start-up. With
// buffered_stdio = 0 (init.c, as upstream componentize-py) each is a
// TextIOWrapper with write_through over a raw FileIO: every write reaches
// the host at once and there is never anything to flush. Flushing them
// anyway costs two Python method calls per export call (most of a small
// export's time), so rt_flush_stdio skips a stream while it is still that
// object and its write_through flag is still set (read through the offset
// of the type's own `write_through` member, checked at start-up). Anything
// else in sys.stdout / sys.stderr is flushed.
static PyObject *sys_dict = NULL;      // borrowed: the sys module lives on
static PyObject *name_stdout = NULL;   // interned
static PyObject *name_stderr = NULL;   // interned
static PyObject *name_flush = NULL;    // interned
static PyObject *unbuffered_stdout = NULL; // owned, or NULL
static PyObject *unbuffered_stderr = NULL; // owned, or NULL
static Py_ssize_t write_through_offset = -1;

static bool is_write_through(PyObject *stream) {
  return *((const char *)stream + write_through_offset) != 0;
}

// `stream` if it is a write-through TextIOWrapper over a raw FileIO (new
// reference), else NULL. Sets write_through_offset on first success.
static PyObject *unbuffered_stream(PyObject *stream) {
  if (stream == NULL || strcmp(Py_TYPE(stream)->tp_name, "_io.TextIOWrapper") != 0) {
    return NULL;
  }
  PyObject *key = PyUnicode_InternFromString("write_through");
  if (key == NULL) {
    PyErr_Clear();
    return NULL;
  }
  PyObject *descr = _PyType_Lookup(Py_TYPE(stream), key); // borrowed
  Py_DECREF(key);
  if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
    return NULL;
  }
  PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
  if (member->type != T_BOOL) {
    return NULL;
  }
  PyObject *buffer = PyObject_GetAttrString(stream, "buffer");
  if (buffer == NULL) {
    PyErr_Clear();
    return NULL;
  }
  bool raw = strcmp(Py_TYPE(buffer)->tp_name, "_io.FileIO") == 0;
  Py_DECREF(buffer);
  if (!raw || *((const char *)stream + member->offset) == 0) {
    return NULL;
  }
  write_through_offset = member->offset;
  Py_INCREF(stream);
  return stream;
}

void rt_stdio_init(void) {
  PyObject *sys = PyImport_AddModule("sys"); // borrowed
  name_stdout = PyUnicode_InternFromString("stdout");
  name_stderr = PyUnicode_InternFromString("stderr");
  name_flush = PyUnicode_InternFromString("flush");
  if (sys == NULL || name_stdout == NULL || name_stderr == NULL ||
      name_flush == NULL) {
    rt_fatal_python("error: could not set up sys.stdout and sys.stderr");
  }
  sys_dict = PyModule_GetDict(sys);
  unbuffered_stdout =
      unbuffered_stream(PyDict_GetItemWithError(sys_dict, name_stdout));
  unbuffered_stderr =
      unbuffered_stream(PyDict_GetItemWithError(sys_dict, name_stderr));
  PyErr_Clear();
}

// Flushes sys.<cname> (`key`, its interned name, once rt_stdio_init ran).
static void flush_python_stream(PyObject *key, const char *cname,
                                PyObject *unbuffered) {
  PyObject *stream;
  if (sys_dict != NULL) {
    stream = PyDict_GetItemWithError(sys_dict, key); // borrowed
    if (stream != NULL && stream == unbuffered && is_write_through(stream)) {
      return;
    }
  } else {
    stream = PySys_GetObject(cname); // borrowed
  }
  if (stream == NULL || stream == Py_None) {
    PyErr_Clear();
    return;
  }
  PyObject *result = sys_dict != NULL
                         ? PyObject_CallMethodNoArgs(stream, name_flush)
                         : PyObject_CallMethod(stream, "flush", NULL);
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
    flush_python_stream(name_stdout, "stdout", unbuffered_stdout);
    flush_python_stream(name_stderr, "stderr", unbuffered_stderr);
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
