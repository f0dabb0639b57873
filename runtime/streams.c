// WIT `stream<T>` and `future<T>`: their handles in values (push/pop) and
// the `componentize_py_runtime` functions behind the Python reader and
// writer classes (`componentize_py_async_support.streams` / `.futures`).
//
// Compiled only into the async interpreter (with -DCOMPONENTIZE_PY_ASYNC):
// the sync interpreter keeps the traps in values.c, so a world without
// async does not change.
//
// A read or write that blocks leaves an `rt_io_t` (the "promise"): its
// buffer, the call context holding what the lowered values point to, and
// the handles the lowered values moved out of their Python objects. The
// Python side waits for the end's STREAM_*/FUTURE_* event through the
// task's waitable set, then calls `io_get_result(promise, code)`: it lifts
// what was read, or gives the writer back the handles of the values the
// reader did not take (imported resources get their `_wit_handle` again,
// exported ones lose the handle made for them, nested readers get their
// handle back), and frees the promise.
//
// docs/internals.md, section 7, describes the protocol.

#ifdef COMPONENTIZE_PY_ASYNC

#include "runtime.h"

#include <stdlib.h>
#include <string.h>

// Result of a read or write: BLOCKED, or a code (low 4 bits) and, for
// streams, the number of elements done (the rest).
#define RT_IO_BLOCKED 0xffffffffu
#define RT_IO_COMPLETED 0
#define RT_IO_DROPPED 1
#define RT_IO_CANCELLED 2

// The reader classes values are lifted to (owned; looked up at init).
static PyObject *byte_stream_reader_cls, *stream_reader_cls, *future_reader_cls;

// ---------------------------------------------------------------- moves

rt_moves_t *rt_moves = NULL;

void rt_moves_record(int kind, size_t ty, uint32_t handle, PyObject *obj) {
  rt_moves_t *moves = rt_moves;
  if (moves == NULL) {
    Py_XDECREF(obj);
    return;
  }
  moves->items = rt_grow(moves->items, &moves->cap, moves->len + 1,
                         sizeof(rt_move_t));
  moves->items[moves->len].kind = kind;
  moves->items[moves->len].ty = ty;
  moves->items[moves->len].handle = handle;
  moves->items[moves->len].obj = obj; // owned (or NULL)
  moves->len++;
}

// Gives move `move` back to its writer: the value was not delivered.
static void restore_move(rt_move_t *move) {
  switch (move->kind) {
  case RT_MOVE_IMPORTED: {
    PyObject *handle = PyLong_FromUnsignedLong(move->handle);
    if (handle == NULL ||
        PyObject_SetAttrString(move->obj, "_wit_handle", handle) < 0) {
      rt_fatal_python("error: could not give a resource its handle back");
    }
    Py_DECREF(handle);
    break;
  }
  case RT_MOVE_EXPORTED:
    // The handle made for the object holds one reference; dropping it runs
    // the destructor, which releases that reference.
    rt_wit->resources[move->ty].drop(move->handle);
    break;
  case RT_MOVE_READER: {
    PyObject *ret =
        PyObject_CallMethod(move->obj, "_restore", "I", (unsigned)move->handle);
    if (ret == NULL) {
      rt_fatal_python("error: could not give a stream or future reader its "
                      "handle back");
    }
    Py_DECREF(ret);
    break;
  }
  default:
    rt_fatal("error: componentize-py runtime: bad move kind %d", move->kind);
  }
}

// Restores the moves from index `from` on, then forgets them all.
static void settle_moves(rt_moves_t *moves, size_t from) {
  for (size_t i = from; i < moves->len; i++) {
    restore_move(&moves->items[i]);
  }
  // Empty the list before releasing: a release can run Python code.
  size_t len = moves->len;
  moves->len = 0;
  for (size_t i = 0; i < len; i++) {
    Py_XDECREF(moves->items[i].obj);
  }
  free(moves->items);
  moves->items = NULL;
  moves->cap = 0;
}

// ---------------------------------------------------------------- tables

static const wit_stream_t *stream_type(Py_ssize_t ty) {
  if (rt_wit == NULL || ty < 0 || (size_t)ty >= rt_wit->num_streams) {
    PyErr_Format(PyExc_IndexError, "no stream type %zd", ty);
    return NULL;
  }
  return &rt_wit->streams[ty];
}

static const wit_future_t *future_type(Py_ssize_t ty) {
  if (rt_wit == NULL || ty < 0 || (size_t)ty >= rt_wit->num_futures) {
    PyErr_Format(PyExc_IndexError, "no future type %zd", ty);
    return NULL;
  }
  return &rt_wit->futures[ty];
}

// `stream<u8>` (and `stream<s8>`, as upstream) is read and written as bytes.
static bool is_byte_stream(const wit_stream_t *stream) {
  if (RT_TYPE_IS_EMPTY(stream->ty)) {
    return false;
  }
  wit_type_t ty = rt_resolve_type(stream->ty);
  return ty == WIT_TYPE_U8 || ty == WIT_TYPE_S8;
}

// ---------------------------------------------------------------- values

static PyObject *support_class(const char *module_name, const char *name) {
  PyObject *module = PyImport_ImportModule(module_name);
  if (module == NULL) {
    rt_fatal_pythonf("error: importing %s (the bindings of a world with "
                     "streams or futures write it)",
                     module_name);
  }
  PyObject *cls = PyObject_GetAttrString(module, name);
  Py_DECREF(module);
  if (cls == NULL) {
    rt_fatal_pythonf("error: %s has no class %s", module_name, name);
  }
  return cls;
}

void rt_streams_init(void) {
  if (rt_wit->num_streams > 0) {
    byte_stream_reader_cls = support_class(
        "componentize_py_async_support.streams", "ByteStreamReader");
    stream_reader_cls =
        support_class("componentize_py_async_support.streams", "StreamReader");
  }
  if (rt_wit->num_futures > 0) {
    future_reader_cls =
        support_class("componentize_py_async_support.futures", "FutureReader");
  }
}

// A new reader object of class `cls` for end `handle` of type `ty`.
static PyObject *new_reader(PyObject *cls, size_t ty, uint32_t handle) {
  if (cls == NULL) {
    rt_fatal("error: componentize-py runtime: stream and future classes "
             "were not loaded");
  }
  PyObject *obj = PyObject_CallFunction(cls, "nI", (Py_ssize_t)ty,
                                        (unsigned)handle);
  if (obj == NULL) {
    rt_fatal_python("error: could not make a stream or future reader");
  }
  return obj;
}

void rt_push_stream(rt_cx_t *cx, size_t ty, uint32_t handle) {
  if (ty >= rt_wit->num_streams) {
    rt_fatal("error: componentize-py runtime: stream index %zu out of range",
             ty);
  }
  PyObject *cls = is_byte_stream(&rt_wit->streams[ty]) ? byte_stream_reader_cls
                                                       : stream_reader_cls;
  rt_cx_push(cx, new_reader(cls, ty, handle));
}

void rt_push_future(rt_cx_t *cx, size_t ty, uint32_t handle) {
  if (ty >= rt_wit->num_futures) {
    rt_fatal("error: componentize-py runtime: future index %zu out of range",
             ty);
  }
  rt_cx_push(cx, new_reader(future_reader_cls, ty, handle));
}

// A reader given away (an argument or result, or inside a value written to
// a stream or future): the object no longer owns the handle.
uint32_t rt_pop_reader(rt_cx_t *cx, PyObject *cls, const char *what) {
  PyObject *obj = rt_cx_pop(cx);
  int ok = cls != NULL ? PyObject_IsInstance(obj, cls) : 0;
  if (ok < 0) {
    rt_fatal_python(NULL);
  }
  if (!ok) {
    PyErr_Format(PyExc_TypeError, "expected a %s, got %R (of type %s)", what,
                 obj, Py_TYPE(obj)->tp_name);
    rt_fatal_python("error: a Python value could not be converted to WIT");
  }
  PyObject *ret = PyObject_CallMethod(obj, "_take", NULL);
  if (ret == NULL) {
    rt_fatal_python("error: a Python value could not be converted to WIT");
  }
  unsigned long handle = PyLong_AsUnsignedLong(ret);
  Py_DECREF(ret);
  if (handle == (unsigned long)-1 && PyErr_Occurred()) {
    rt_fatal_python(NULL);
  }
  rt_moves_record(RT_MOVE_READER, 0, (uint32_t)handle, obj); // steals obj
  return (uint32_t)handle;
}

uint32_t rt_pop_stream(rt_cx_t *cx, size_t ty) {
  if (ty >= rt_wit->num_streams) {
    rt_fatal("error: componentize-py runtime: stream index %zu out of range",
             ty);
  }
  if (is_byte_stream(&rt_wit->streams[ty])) {
    return rt_pop_reader(cx, byte_stream_reader_cls, "ByteStreamReader");
  }
  return rt_pop_reader(cx, stream_reader_cls, "StreamReader");
}

uint32_t rt_pop_future(rt_cx_t *cx, size_t ty) {
  return rt_pop_reader(cx, future_reader_cls, "FutureReader");
}

// ---------------------------------------------------------------- promises

enum { IO_STREAM_READ, IO_STREAM_WRITE, IO_FUTURE_READ, IO_FUTURE_WRITE };

typedef struct {
  int kind;
  size_t ty;
  uint32_t handle;
  rt_cx_t *cx;       // what lowered values point into; lifting context
  uint8_t *buffer;   // payloads (NULL for bytes written from `keep`)
  size_t count;      // elements in the buffer
  PyObject *keep;    // the bytes written (stream<u8>), owned
  rt_moves_t moves;  // handles moved out of the written values
  size_t *starts;    // per element written: its first move (count + 1)
} rt_io_t;

static void *alloc_buffer(size_t size, size_t align, size_t count) {
  size_t bytes = size * count;
  if (align < 16) {
    align = 16;
  }
  bytes = (bytes + align - 1) & ~(align - 1);
  void *buffer = aligned_alloc(align, bytes ? bytes : align);
  if (buffer == NULL) {
    PyErr_NoMemory();
  }
  return buffer;
}

static rt_io_t *io_new(int kind, size_t ty, uint32_t handle) {
  rt_io_t *io = calloc(1, sizeof *io);
  if (io == NULL) {
    PyErr_NoMemory();
    return NULL;
  }
  io->kind = kind;
  io->ty = ty;
  io->handle = handle;
  io->cx = rt_cx_new();
  return io;
}

static void io_free(rt_io_t *io) {
  settle_moves(&io->moves, io->moves.len);
  free(io->starts);
  rt_cx_free(io->cx);
  free(io->buffer);
  Py_XDECREF(io->keep);
  free(io);
}

// The result of a finished operation (`code` as the canonical ABI gives
// it), freeing `io`:
//   stream read:  (code, bytes or list of values)
//   stream write: (code, count written)
//   future read:  (code, value or None)
//   future write: (code, count written: 0 or 1)
static PyObject *io_finish(rt_io_t *io, uint32_t code) {
  size_t count = code >> 4;
  uint32_t status = code & 0xf;
  PyObject *value = NULL;
  switch (io->kind) {
  case IO_STREAM_READ: {
    const wit_stream_t *stream = &rt_wit->streams[io->ty];
    if (count > io->count) {
      rt_fatal("error: componentize-py runtime: stream read %zu of %zu", count,
               io->count);
    }
    if (is_byte_stream(stream)) {
      value = PyBytes_FromStringAndSize((const char *)io->buffer,
                                        (Py_ssize_t)count);
      break;
    }
    value = PyList_New((Py_ssize_t)count);
    if (value == NULL) {
      break;
    }
    for (size_t i = 0; i < count; i++) {
      PyObject *item;
      if (stream->lift == NULL) {
        item = Py_None;
        Py_INCREF(item);
      } else {
        stream->lift(io->cx, io->buffer + i * stream->abi_payload_size);
        item = rt_cx_pop(io->cx);
      }
      PyList_SET_ITEM(value, (Py_ssize_t)i, item);
    }
    break;
  }
  case IO_STREAM_WRITE:
    if (count > io->count) {
      rt_fatal("error: componentize-py runtime: stream wrote %zu of %zu",
               count, io->count);
    }
    if (io->starts != NULL) {
      // The reader took the first `count` values; the rest come back.
      settle_moves(&io->moves, io->starts[count]);
    }
    value = PyLong_FromSize_t(count);
    break;
  case IO_FUTURE_READ: {
    const wit_future_t *future = &rt_wit->futures[io->ty];
    if (status == RT_IO_COMPLETED && future->lift != NULL) {
      future->lift(io->cx, io->buffer);
      value = rt_cx_pop(io->cx);
    } else {
      value = Py_None;
      Py_INCREF(value);
    }
    break;
  }
  case IO_FUTURE_WRITE:
    // Not delivered (the reader was dropped, or the write cancelled): the
    // value comes back.
    settle_moves(&io->moves, status == RT_IO_COMPLETED ? io->moves.len : 0);
    value = PyLong_FromSize_t(status == RT_IO_COMPLETED ? 1 : 0);
    break;
  default:
    rt_fatal("error: componentize-py runtime: bad stream operation %d",
             io->kind);
  }
  io_free(io);
  if (value == NULL) {
    return NULL;
  }
  return Py_BuildValue("(kN)", (unsigned long)status, value);
}

// (0, result) when the operation finished at once, else (waitable, promise).
static PyObject *io_started(rt_io_t *io, uint32_t code) {
  if (code == RT_IO_BLOCKED) {
    return Py_BuildValue("(kn)", (unsigned long)io->handle,
                         (Py_ssize_t)(uintptr_t)io);
  }
  PyObject *result = io_finish(io, code);
  if (result == NULL) {
    return NULL;
  }
  return Py_BuildValue("(iN)", 0, result);
}

static rt_io_t *promise_arg(PyObject *arg) {
  Py_ssize_t addr = PyLong_AsSsize_t(arg);
  if (addr == -1 && PyErr_Occurred()) {
    return NULL;
  }
  if (addr == 0) {
    PyErr_SetString(PyExc_ValueError, "null stream promise");
    return NULL;
  }
  return (rt_io_t *)(uintptr_t)addr;
}

// ---------------------------------------------------------------- streams

static PyObject *stream_new(PyObject *self, PyObject *arg) {
  (void)self;
  const wit_stream_t *stream = stream_type(PyLong_AsSsize_t(arg));
  if (stream == NULL) {
    return NULL;
  }
  return PyLong_FromUnsignedLongLong(stream->new());
}

// stream_read(ty, handle, max_count)
static PyObject *stream_read(PyObject *self, PyObject *args) {
  (void)self;
  Py_ssize_t ty, max_count;
  unsigned int handle;
  if (!PyArg_ParseTuple(args, "nIn", &ty, &handle, &max_count)) {
    return NULL;
  }
  const wit_stream_t *stream = stream_type(ty);
  if (stream == NULL) {
    return NULL;
  }
  if (max_count < 1) {
    PyErr_SetString(PyExc_ValueError, "a stream read needs max_count >= 1");
    return NULL;
  }
  rt_io_t *io = io_new(IO_STREAM_READ, (size_t)ty, handle);
  if (io == NULL) {
    return NULL;
  }
  io->count = (size_t)max_count;
  io->buffer = alloc_buffer(stream->abi_payload_size, stream->abi_payload_align,
                            io->count);
  if (io->buffer == NULL) {
    io_free(io);
    return NULL;
  }
  return io_started(io, stream->read(handle, io->buffer, io->count));
}

// stream_write(ty, handle, values): bytes for stream<u8>, else a sequence.
static PyObject *stream_write(PyObject *self, PyObject *args) {
  (void)self;
  Py_ssize_t ty;
  unsigned int handle;
  PyObject *values;
  if (!PyArg_ParseTuple(args, "nIO", &ty, &handle, &values)) {
    return NULL;
  }
  const wit_stream_t *stream = stream_type(ty);
  if (stream == NULL) {
    return NULL;
  }
  rt_io_t *io = io_new(IO_STREAM_WRITE, (size_t)ty, handle);
  if (io == NULL) {
    return NULL;
  }
  if (is_byte_stream(stream)) {
    io->keep = PyBytes_FromObject(values);
    if (io->keep == NULL) {
      io_free(io);
      return NULL;
    }
    io->count = (size_t)PyBytes_GET_SIZE(io->keep);
    return io_started(io, stream->write(handle, PyBytes_AS_STRING(io->keep),
                                        io->count));
  }
  PyObject *items = PySequence_Fast(values, "a stream write needs a list");
  if (items == NULL) {
    io_free(io);
    return NULL;
  }
  io->count = (size_t)PySequence_Fast_GET_SIZE(items);
  io->buffer = alloc_buffer(stream->abi_payload_size, stream->abi_payload_align,
                            io->count);
  io->starts = calloc(io->count + 1, sizeof(size_t));
  if (io->buffer == NULL || io->starts == NULL) {
    Py_DECREF(items);
    io_free(io);
    return PyErr_NoMemory();
  }
  rt_moves_t *outer = rt_moves;
  rt_moves = &io->moves;
  for (size_t i = 0; i < io->count; i++) {
    io->starts[i] = io->moves.len;
    if (stream->lower != NULL) {
      PyObject *item = PySequence_Fast_GET_ITEM(items, (Py_ssize_t)i);
      Py_INCREF(item);
      rt_cx_push(io->cx, item);
      stream->lower(io->cx, io->buffer + i * stream->abi_payload_size);
    }
  }
  io->starts[io->count] = io->moves.len;
  rt_moves = outer;
  Py_DECREF(items);
  return io_started(io, stream->write(handle, io->buffer, io->count));
}

static PyObject *stream_cancel(PyObject *arg, bool writer) {
  rt_io_t *io = promise_arg(arg);
  if (io == NULL) {
    return NULL;
  }
  const wit_stream_t *stream = &rt_wit->streams[io->ty];
  uint32_t code = writer ? stream->cancel_write(io->handle)
                         : stream->cancel_read(io->handle);
  return PyLong_FromUnsignedLong(code);
}

// ---------------------------------------------------------------- futures

static PyObject *future_new(PyObject *self, PyObject *arg) {
  (void)self;
  const wit_future_t *future = future_type(PyLong_AsSsize_t(arg));
  if (future == NULL) {
    return NULL;
  }
  return PyLong_FromUnsignedLongLong(future->new());
}

// future_read(ty, handle)
static PyObject *future_read(PyObject *self, PyObject *args) {
  (void)self;
  Py_ssize_t ty;
  unsigned int handle;
  if (!PyArg_ParseTuple(args, "nI", &ty, &handle)) {
    return NULL;
  }
  const wit_future_t *future = future_type(ty);
  if (future == NULL) {
    return NULL;
  }
  rt_io_t *io = io_new(IO_FUTURE_READ, (size_t)ty, handle);
  if (io == NULL) {
    return NULL;
  }
  io->count = 1;
  io->buffer =
      alloc_buffer(future->abi_payload_size, future->abi_payload_align, 1);
  if (io->buffer == NULL) {
    io_free(io);
    return NULL;
  }
  return io_started(io, future->read(handle, io->buffer));
}

// future_write(ty, handle, value)
static PyObject *future_write(PyObject *self, PyObject *args) {
  (void)self;
  Py_ssize_t ty;
  unsigned int handle;
  PyObject *value;
  if (!PyArg_ParseTuple(args, "nIO", &ty, &handle, &value)) {
    return NULL;
  }
  const wit_future_t *future = future_type(ty);
  if (future == NULL) {
    return NULL;
  }
  rt_io_t *io = io_new(IO_FUTURE_WRITE, (size_t)ty, handle);
  if (io == NULL) {
    return NULL;
  }
  io->count = 1;
  io->buffer =
      alloc_buffer(future->abi_payload_size, future->abi_payload_align, 1);
  if (io->buffer == NULL) {
    io_free(io);
    return NULL;
  }
  if (future->lower != NULL) {
    rt_moves_t *outer = rt_moves;
    rt_moves = &io->moves;
    Py_INCREF(value);
    rt_cx_push(io->cx, value);
    future->lower(io->cx, io->buffer);
    rt_moves = outer;
  }
  return io_started(io, future->write(handle, io->buffer));
}

static PyObject *future_cancel(PyObject *arg, bool writer) {
  rt_io_t *io = promise_arg(arg);
  if (io == NULL) {
    return NULL;
  }
  const wit_future_t *future = &rt_wit->futures[io->ty];
  uint32_t code = writer ? future->cancel_write(io->handle)
                         : future->cancel_read(io->handle);
  return PyLong_FromUnsignedLong(code);
}

// ---------------------------------------------------------------- common

// io_get_result(promise, code): the result of a finished operation (its
// event's code); frees the promise.
static PyObject *io_get_result(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *promise;
  unsigned long code;
  if (!PyArg_ParseTuple(args, "Ok", &promise, &code)) {
    return NULL;
  }
  rt_io_t *io = promise_arg(promise);
  if (io == NULL) {
    return NULL;
  }
  return io_finish(io, (uint32_t)code);
}

// io_cancel(promise): cancels the blocked operation and returns its code
// (pass it to io_get_result).
static PyObject *io_cancel(PyObject *self, PyObject *arg) {
  (void)self;
  rt_io_t *io = promise_arg(arg);
  if (io == NULL) {
    return NULL;
  }
  switch (io->kind) {
  case IO_STREAM_READ:
    return stream_cancel(arg, false);
  case IO_STREAM_WRITE:
    return stream_cancel(arg, true);
  case IO_FUTURE_READ:
    return future_cancel(arg, false);
  default:
    return future_cancel(arg, true);
  }
}

// The drops: `fn(ty, handle)`.
#define RT_DROP(fn, entry_t, lookup, field)                                    \
  static PyObject *fn(PyObject *self, PyObject *args) {                        \
    (void)self;                                                                \
    Py_ssize_t ty;                                                             \
    unsigned int handle;                                                       \
    if (!PyArg_ParseTuple(args, "nI", &ty, &handle)) {                         \
      return NULL;                                                             \
    }                                                                          \
    const entry_t *entry = lookup(ty);                                         \
    if (entry == NULL) {                                                       \
      return NULL;                                                             \
    }                                                                          \
    entry->field(handle);                                                      \
    Py_RETURN_NONE;                                                            \
  }

RT_DROP(stream_drop_readable, wit_stream_t, stream_type, drop_readable)
RT_DROP(stream_drop_writable, wit_stream_t, stream_type, drop_writable)
RT_DROP(future_drop_readable, wit_future_t, future_type, drop_readable)
RT_DROP(future_drop_writable, wit_future_t, future_type, drop_writable)

static PyMethodDef stream_methods[] = {
    {"stream_new", stream_new, METH_O,
     "stream_new(ty) -> writable << 32 | readable"},
    {"stream_read", stream_read, METH_VARARGS,
     "stream_read(ty, handle, max_count) -> (0, (code, values)) | (waitable, "
     "promise)"},
    {"stream_write", stream_write, METH_VARARGS,
     "stream_write(ty, handle, values) -> (0, (code, count)) | (waitable, "
     "promise)"},
    {"stream_drop_readable", stream_drop_readable, METH_VARARGS,
     "stream_drop_readable(ty, handle)"},
    {"stream_drop_writable", stream_drop_writable, METH_VARARGS,
     "stream_drop_writable(ty, handle)"},
    {"future_new", future_new, METH_O,
     "future_new(ty) -> writable << 32 | readable"},
    {"future_read", future_read, METH_VARARGS,
     "future_read(ty, handle) -> (0, (code, value)) | (waitable, promise)"},
    {"future_write", future_write, METH_VARARGS,
     "future_write(ty, handle, value) -> (0, (code, written)) | (waitable, "
     "promise)"},
    {"future_drop_readable", future_drop_readable, METH_VARARGS,
     "future_drop_readable(ty, handle)"},
    {"future_drop_writable", future_drop_writable, METH_VARARGS,
     "future_drop_writable(ty, handle)"},
    {"io_get_result", io_get_result, METH_VARARGS,
     "io_get_result(promise, code): the result of a finished read or write"},
    {"io_cancel", io_cancel, METH_O,
     "io_cancel(promise) -> code: cancel a blocked read or write"},
    {NULL, NULL, 0, NULL},
};

int rt_streams_add_functions(PyObject *module) {
  return PyModule_AddFunctions(module, stream_methods);
}

#endif
