// The push/pop stack machine of wit-dylib: converting between canonical ABI
// values and Python objects (representations: docs/internals.md, section 3).
//
// Every failure here is fatal: the generated bindings code calling these
// functions cannot unwind, so a Python exception prints its traceback and
// traps.

#include "runtime.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- cx

void *rt_grow(void *array, size_t *cap, size_t needed, size_t elem) {
  if (needed <= *cap) {
    return array;
  }
  size_t new_cap = *cap == 0 ? 8 : *cap * 2;
  while (new_cap < needed) {
    new_cap *= 2;
  }
  void *result = realloc(array, new_cap * elem);
  if (result == NULL) {
    rt_fatal("error: out of memory (componentize-py runtime)");
  }
  *cap = new_cap;
  return result;
}

// One finished context is kept, arrays and all, for the next call: an
// export call then allocates no context, value stack or keep list of its
// own. Contexts that grew large are not kept.
#define CX_KEEP_MAX_CAP 64
static rt_cx_t *spare_cx = NULL;

rt_cx_t *rt_cx_new(void) {
  rt_cx_t *cx = spare_cx;
  if (cx != NULL) {
    spare_cx = NULL;
    return cx;
  }
  cx = calloc(1, sizeof(rt_cx_t));
  if (cx == NULL) {
    rt_fatal("error: out of memory (componentize-py runtime)");
  }
  return cx;
}

void rt_cx_free(rt_cx_t *cx) {
  rt_cx_release_lent(cx);
  // Releasing objects can run Python code (__del__) that makes and frees
  // contexts of its own: empty each list before releasing what it held.
  while (cx->len > 0) {
    Py_DECREF(cx->stack[--cx->len]);
  }
  while (cx->nkeep > 0) {
    Py_DECREF(cx->keep[--cx->nkeep]);
  }
  while (cx->ndeferred > 0) {
    free(cx->deferred[--cx->ndeferred]);
  }
  cx->nlent = 0;
  if (spare_cx == NULL && cx->cap <= CX_KEEP_MAX_CAP &&
      cx->capkeep <= CX_KEEP_MAX_CAP && cx->capdeferred <= CX_KEEP_MAX_CAP &&
      cx->caplent <= CX_KEEP_MAX_CAP) {
    spare_cx = cx;
    return;
  }
  free(cx->lent);
  free(cx->stack);
  free(cx->keep);
  free(cx->deferred);
  free(cx);
}

void rt_cx_push(rt_cx_t *cx, PyObject *obj) {
  if (obj == NULL) {
    rt_fatal_python("error: converting a WIT value to Python failed");
  }
  cx->stack = rt_grow(cx->stack, &cx->cap, cx->len + 1, sizeof(PyObject *));
  cx->stack[cx->len++] = obj;
}

PyObject *rt_cx_pop(rt_cx_t *cx) {
  if (cx->len == 0) {
    rt_fatal("error: componentize-py runtime: value stack underflow");
  }
  return cx->stack[--cx->len];
}

static PyObject *cx_peek(rt_cx_t *cx) {
  if (cx->len == 0) {
    rt_fatal("error: componentize-py runtime: value stack underflow");
  }
  return cx->stack[cx->len - 1];
}

void rt_cx_keep(rt_cx_t *cx, PyObject *obj) {
  cx->keep = rt_grow(cx->keep, &cx->capkeep, cx->nkeep + 1, sizeof(PyObject *));
  cx->keep[cx->nkeep++] = obj;
}

void rt_cx_defer_free(rt_cx_t *cx, void *ptr) {
  cx->deferred =
      rt_grow(cx->deferred, &cx->capdeferred, cx->ndeferred + 1, sizeof(void *));
  cx->deferred[cx->ndeferred++] = ptr;
}

// ---------------------------------------------------------------- types

wit_type_t rt_resolve_type(wit_type_t ty) {
  while (!RT_TYPE_IS_EMPTY(ty) && WIT_TYPE_KIND(ty) == WIT_TYPE_ALIAS) {
    size_t index = WIT_TYPE_INDEX(ty);
    if (index >= rt_wit->num_aliases) {
      rt_fatal("error: componentize-py runtime: bad alias index %zu", index);
    }
    ty = rt_wit->aliases[index].ty;
  }
  return ty;
}

bool rt_is_result_type(wit_type_t ty) {
  if (RT_TYPE_IS_EMPTY(ty)) {
    return false;
  }
  ty = rt_resolve_type(ty);
  return WIT_TYPE_KIND(ty) == WIT_TYPE_RESULT;
}

static void check_index(size_t index, size_t count, const char *what) {
  if (index >= count) {
    rt_fatal("error: componentize-py runtime: %s index %zu out of range "
             "(%zu)",
             what, index, count);
  }
}

// Borrowed registry entry `list[index]`.
static PyObject *registry_item(PyObject *list, size_t index,
                               const char *what) {
  if (list == NULL || !PyList_Check(list) ||
      (size_t)PyList_GET_SIZE(list) <= index) {
    rt_fatal("error: wit_world._registry.%s has no entry %zu", what, index);
  }
  return PyList_GET_ITEM(list, index);
}

// Borrowed item `index` of the tuple `tuple` (a registry entry).
static PyObject *tuple_item(PyObject *tuple, size_t index, const char *what) {
  if (!PyTuple_Check(tuple) || (size_t)PyTuple_GET_SIZE(tuple) <= index) {
    rt_fatal("error: malformed entry in wit_world._registry.%s", what);
  }
  return PyTuple_GET_ITEM(tuple, index);
}

// A fatal type mismatch while lowering `obj` as `expected`.
_Noreturn static void bad_value(PyObject *obj, const char *expected) {
  if (!PyErr_Occurred()) {
    PyErr_Format(PyExc_TypeError, "expected %s, got %R (of type %s)",
                 expected, obj, Py_TYPE(obj)->tp_name);
  }
  rt_fatal_python("error: a Python value could not be converted to WIT");
}

static int is_instance(PyObject *obj, PyObject *cls) {
  int result = PyObject_IsInstance(obj, cls);
  if (result < 0) {
    rt_fatal_python(NULL);
  }
  return result;
}

// ---------------------------------------------------------------- scalars

RT_EXPORT("wit_dylib_push_bool") void wit_dylib_push_bool(void *cx, bool val) {
  rt_cx_push(cx, PyBool_FromLong(val));
}

RT_EXPORT("wit_dylib_push_char")
void wit_dylib_push_char(void *cx, uint32_t val) {
  rt_cx_push(cx, PyUnicode_FromOrdinal((int)val));
}

RT_EXPORT("wit_dylib_push_u8") void wit_dylib_push_u8(void *cx, uint8_t val) {
  rt_cx_push(cx, PyLong_FromLong(val));
}

RT_EXPORT("wit_dylib_push_s8") void wit_dylib_push_s8(void *cx, int8_t val) {
  rt_cx_push(cx, PyLong_FromLong(val));
}

RT_EXPORT("wit_dylib_push_u16")
void wit_dylib_push_u16(void *cx, uint16_t val) {
  rt_cx_push(cx, PyLong_FromLong(val));
}

RT_EXPORT("wit_dylib_push_s16") void wit_dylib_push_s16(void *cx, int16_t val) {
  rt_cx_push(cx, PyLong_FromLong(val));
}

RT_EXPORT("wit_dylib_push_u32")
void wit_dylib_push_u32(void *cx, uint32_t val) {
  rt_cx_push(cx, PyLong_FromUnsignedLong(val));
}

RT_EXPORT("wit_dylib_push_s32") void wit_dylib_push_s32(void *cx, int32_t val) {
  rt_cx_push(cx, PyLong_FromLong(val));
}

RT_EXPORT("wit_dylib_push_u64")
void wit_dylib_push_u64(void *cx, uint64_t val) {
  rt_cx_push(cx, PyLong_FromUnsignedLongLong(val));
}

RT_EXPORT("wit_dylib_push_s64") void wit_dylib_push_s64(void *cx, int64_t val) {
  rt_cx_push(cx, PyLong_FromLongLong(val));
}

RT_EXPORT("wit_dylib_push_f32") void wit_dylib_push_f32(void *cx, float val) {
  rt_cx_push(cx, PyFloat_FromDouble((double)val));
}

RT_EXPORT("wit_dylib_push_f64") void wit_dylib_push_f64(void *cx, double val) {
  rt_cx_push(cx, PyFloat_FromDouble(val));
}

// Pops an integer in [min, max] (as long long; u64 is handled separately).
static long long pop_int(void *cx, long long min, long long max,
                         const char *name) {
  PyObject *obj = rt_cx_pop(cx);
  if (!PyLong_Check(obj) && !PyIndex_Check(obj)) {
    bad_value(obj, name);
  }
  int overflow = 0;
  long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
  if (value == -1 && PyErr_Occurred()) {
    bad_value(obj, name);
  }
  if (overflow != 0 || value < min || value > max) {
    PyErr_Format(PyExc_OverflowError, "%R is out of range for WIT %s", obj,
                 name);
    bad_value(obj, name);
  }
  Py_DECREF(obj);
  return value;
}

RT_EXPORT("wit_dylib_pop_u8") uint8_t wit_dylib_pop_u8(void *cx) {
  return (uint8_t)pop_int(cx, 0, UINT8_MAX, "u8");
}

RT_EXPORT("wit_dylib_pop_u16") uint16_t wit_dylib_pop_u16(void *cx) {
  return (uint16_t)pop_int(cx, 0, UINT16_MAX, "u16");
}

RT_EXPORT("wit_dylib_pop_u32") uint32_t wit_dylib_pop_u32(void *cx) {
  return (uint32_t)pop_int(cx, 0, UINT32_MAX, "u32");
}

RT_EXPORT("wit_dylib_pop_s8") int8_t wit_dylib_pop_s8(void *cx) {
  return (int8_t)pop_int(cx, INT8_MIN, INT8_MAX, "s8");
}

RT_EXPORT("wit_dylib_pop_s16") int16_t wit_dylib_pop_s16(void *cx) {
  return (int16_t)pop_int(cx, INT16_MIN, INT16_MAX, "s16");
}

RT_EXPORT("wit_dylib_pop_s32") int32_t wit_dylib_pop_s32(void *cx) {
  return (int32_t)pop_int(cx, INT32_MIN, INT32_MAX, "s32");
}

RT_EXPORT("wit_dylib_pop_s64") int64_t wit_dylib_pop_s64(void *cx) {
  return (int64_t)pop_int(cx, INT64_MIN, INT64_MAX, "s64");
}

RT_EXPORT("wit_dylib_pop_u64") uint64_t wit_dylib_pop_u64(void *cx) {
  PyObject *obj = rt_cx_pop(cx);
  PyObject *index = PyNumber_Index(obj);
  if (index == NULL) {
    bad_value(obj, "u64");
  }
  unsigned long long value = PyLong_AsUnsignedLongLong(index);
  Py_DECREF(index);
  if (value == (unsigned long long)-1 && PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_Format(PyExc_OverflowError, "%R is out of range for WIT u64", obj);
    bad_value(obj, "u64");
  }
  Py_DECREF(obj);
  return value;
}

static double pop_float(void *cx, const char *name) {
  PyObject *obj = rt_cx_pop(cx);
  double value = PyFloat_AsDouble(obj);
  if (value == -1.0 && PyErr_Occurred()) {
    bad_value(obj, name);
  }
  Py_DECREF(obj);
  return value;
}

RT_EXPORT("wit_dylib_pop_f32") float wit_dylib_pop_f32(void *cx) {
  return (float)pop_float(cx, "f32");
}

RT_EXPORT("wit_dylib_pop_f64") double wit_dylib_pop_f64(void *cx) {
  return pop_float(cx, "f64");
}

RT_EXPORT("wit_dylib_pop_bool") bool wit_dylib_pop_bool(void *cx) {
  PyObject *obj = rt_cx_pop(cx);
  int value = PyObject_IsTrue(obj);
  if (value < 0) {
    bad_value(obj, "bool");
  }
  Py_DECREF(obj);
  return value != 0;
}

RT_EXPORT("wit_dylib_pop_char") uint32_t wit_dylib_pop_char(void *cx) {
  PyObject *obj = rt_cx_pop(cx);
  if (!PyUnicode_Check(obj) || PyUnicode_GET_LENGTH(obj) != 1) {
    bad_value(obj, "a str of length 1 (WIT char)");
  }
  Py_UCS4 c = PyUnicode_READ_CHAR(obj, 0);
  if (c >= 0xD800 && c <= 0xDFFF) {
    PyErr_Format(PyExc_ValueError, "%R is a surrogate, not a WIT char", obj);
    bad_value(obj, "char");
  }
  Py_DECREF(obj);
  return (uint32_t)c;
}

// ---------------------------------------------------------------- strings

RT_EXPORT("wit_dylib_push_string")
void wit_dylib_push_string(void *cx, uint8_t *bytes, size_t len) {
  PyObject *str = PyUnicode_DecodeUTF8((const char *)bytes, (Py_ssize_t)len,
                                       "surrogatepass");
  // Zero-length buffers are never real allocations (see cabi_realloc).
  if (len > 0) {
    free(bytes);
  }
  rt_cx_push(cx, str);
}

RT_EXPORT("wit_dylib_pop_string")
size_t wit_dylib_pop_string(void *cx, char **ptr) {
  PyObject *obj = rt_cx_pop(cx);
  if (!PyUnicode_Check(obj)) {
    bad_value(obj, "str");
  }
  Py_ssize_t size = 0;
  const char *utf8 = PyUnicode_AsUTF8AndSize(obj, &size);
  if (utf8 == NULL) {
    bad_value(obj, "str without lone surrogates");
  }
  // The UTF-8 form is cached in the str object: keep it alive while the
  // canonical ABI reads it (until the import returns / post-return).
  rt_cx_keep(cx, obj);
  *ptr = (char *)utf8;
  return (size_t)size;
}

// ---------------------------------------------------------------- records, tuples

RT_EXPORT("wit_dylib_push_record")
void wit_dylib_push_record(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_records, "record");
  const wit_record_t *record = &rt_wit->records[ty];
  PyObject *entry = registry_item(rt_records, ty, "RECORDS");
  PyObject *cls = tuple_item(entry, 0, "RECORDS");
  PyObject *args = PyTuple_New((Py_ssize_t)record->nfields);
  if (args == NULL) {
    rt_fatal_python(NULL);
  }
  for (size_t i = record->nfields; i > 0; i--) {
    PyTuple_SET_ITEM(args, i - 1, rt_cx_pop(cx));
  }
  PyObject *obj = PyObject_Call(cls, args, NULL);
  Py_DECREF(args);
  rt_cx_push(cx, obj);
}

RT_EXPORT("wit_dylib_pop_record")
void wit_dylib_pop_record(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_records, "record");
  const wit_record_t *record = &rt_wit->records[ty];
  PyObject *entry = registry_item(rt_records, ty, "RECORDS");
  PyObject *names = tuple_item(entry, 1, "RECORDS");
  if (!PyTuple_Check(names) ||
      (size_t)PyTuple_GET_SIZE(names) != record->nfields) {
    rt_fatal("error: wit_world._registry.RECORDS[%zu] does not list the %zu "
             "fields of record '%s'",
             ty, record->nfields, record->name);
  }
  PyObject *obj = rt_cx_pop(cx);
  // The last field is pushed first: the first field ends on top.
  for (size_t i = record->nfields; i > 0; i--) {
    PyObject *field = PyObject_GetAttr(obj, PyTuple_GET_ITEM(names, i - 1));
    if (field == NULL) {
      bad_value(obj, record->name);
    }
    rt_cx_push(cx, field);
  }
  Py_DECREF(obj);
}

RT_EXPORT("wit_dylib_push_tuple")
void wit_dylib_push_tuple(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_tuples, "tuple");
  size_t n = rt_wit->tuples[ty].ntypes;
  PyObject *tuple = PyTuple_New((Py_ssize_t)n);
  if (tuple == NULL) {
    rt_fatal_python(NULL);
  }
  for (size_t i = n; i > 0; i--) {
    PyTuple_SET_ITEM(tuple, i - 1, rt_cx_pop(cx));
  }
  rt_cx_push(cx, tuple);
}

RT_EXPORT("wit_dylib_pop_tuple")
void wit_dylib_pop_tuple(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_tuples, "tuple");
  size_t n = rt_wit->tuples[ty].ntypes;
  PyObject *obj = rt_cx_pop(cx);
  PyObject *seq = PySequence_Fast(obj, "expected a tuple");
  if (seq == NULL) {
    bad_value(obj, "tuple");
  }
  if ((size_t)PySequence_Fast_GET_SIZE(seq) != n) {
    PyErr_Format(PyExc_ValueError, "expected a tuple of %zu items, got %R", n,
                 obj);
    bad_value(obj, "tuple");
  }
  for (size_t i = n; i > 0; i--) {
    PyObject *item = PySequence_Fast_GET_ITEM(seq, i - 1);
    Py_INCREF(item);
    rt_cx_push(cx, item);
  }
  Py_DECREF(seq);
  Py_DECREF(obj);
}

// ---------------------------------------------------------------- flags, enums

RT_EXPORT("wit_dylib_push_flags")
void wit_dylib_push_flags(void *cx, size_t ty, uint32_t flags) {
  check_index(ty, rt_wit->num_flags, "flags");
  PyObject *cls = registry_item(rt_flags, ty, "FLAGS");
  PyObject *bits = PyLong_FromUnsignedLong(flags);
  if (bits == NULL) {
    rt_fatal_python(NULL);
  }
  PyObject *obj = PyObject_CallOneArg(cls, bits);
  Py_DECREF(bits);
  rt_cx_push(cx, obj);
}

// The integer `value` of an enum/flag member (or a plain int).
static unsigned long long member_value(PyObject *obj, const char *what) {
  PyObject *value;
  if (PyLong_Check(obj)) {
    value = obj;
    Py_INCREF(value);
  } else {
    value = PyObject_GetAttrString(obj, "value");
    if (value == NULL) {
      bad_value(obj, what);
    }
  }
  unsigned long long result = PyLong_AsUnsignedLongLong(value);
  Py_DECREF(value);
  if (result == (unsigned long long)-1 && PyErr_Occurred()) {
    bad_value(obj, what);
  }
  return result;
}

RT_EXPORT("wit_dylib_pop_flags")
uint32_t wit_dylib_pop_flags(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_flags, "flags");
  const wit_flags_t *flags = &rt_wit->flags[ty];
  PyObject *obj = rt_cx_pop(cx);
  unsigned long long bits = member_value(obj, flags->name);
  if (flags->nnames < 64 && (bits >> flags->nnames) != 0) {
    PyErr_Format(PyExc_ValueError, "%R has bits beyond the %zu flags of '%s'",
                 obj, flags->nnames, flags->name);
    bad_value(obj, flags->name);
  }
  Py_DECREF(obj);
  return (uint32_t)bits;
}

RT_EXPORT("wit_dylib_push_enum")
void wit_dylib_push_enum(void *cx, size_t ty, uint32_t value) {
  check_index(ty, rt_wit->num_enums, "enum");
  PyObject *cls = registry_item(rt_enums, ty, "ENUMS");
  PyObject *index = PyLong_FromUnsignedLong(value);
  if (index == NULL) {
    rt_fatal_python(NULL);
  }
  PyObject *obj = PyObject_CallOneArg(cls, index);
  Py_DECREF(index);
  rt_cx_push(cx, obj);
}

RT_EXPORT("wit_dylib_pop_enum")
uint32_t wit_dylib_pop_enum(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_enums, "enum");
  const wit_enum_t *enum_ = &rt_wit->enums[ty];
  PyObject *cls = registry_item(rt_enums, ty, "ENUMS");
  PyObject *obj = rt_cx_pop(cx);
  if (!is_instance(obj, cls)) {
    bad_value(obj, enum_->name);
  }
  unsigned long long value = member_value(obj, enum_->name);
  if (value >= enum_->nnames) {
    PyErr_Format(PyExc_ValueError, "%R is not a case of enum '%s'", obj,
                 enum_->name);
    bad_value(obj, enum_->name);
  }
  Py_DECREF(obj);
  return (uint32_t)value;
}

// ---------------------------------------------------------------- variants

RT_EXPORT("wit_dylib_push_variant")
void wit_dylib_push_variant(void *cx, size_t ty, uint32_t discr) {
  check_index(ty, rt_wit->num_variants, "variant");
  const wit_variant_t *variant = &rt_wit->variants[ty];
  check_index(discr, variant->ncases, "variant case");
  PyObject *cases = registry_item(rt_variants, ty, "VARIANTS");
  PyObject *cls = tuple_item(cases, discr, "VARIANTS");
  PyObject *obj;
  if (!RT_TYPE_IS_EMPTY(variant->cases[discr].ty)) {
    PyObject *payload = rt_cx_pop(cx);
    obj = PyObject_CallOneArg(cls, payload);
    Py_DECREF(payload);
  } else {
    obj = PyObject_CallNoArgs(cls);
  }
  rt_cx_push(cx, obj);
}

// Pushes `obj.value` (the payload of a case).
static void push_payload(void *cx, PyObject *obj, const char *what) {
  PyObject *payload = PyObject_GetAttrString(obj, "value");
  if (payload == NULL) {
    bad_value(obj, what);
  }
  rt_cx_push(cx, payload);
}

RT_EXPORT("wit_dylib_pop_variant")
uint32_t wit_dylib_pop_variant(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_variants, "variant");
  const wit_variant_t *variant = &rt_wit->variants[ty];
  PyObject *cases = registry_item(rt_variants, ty, "VARIANTS");
  PyObject *obj = rt_cx_pop(cx);
  size_t found = variant->ncases;
  // Exact class first, then subclasses.
  for (size_t i = 0; i < variant->ncases; i++) {
    if ((PyObject *)Py_TYPE(obj) == tuple_item(cases, i, "VARIANTS")) {
      found = i;
      break;
    }
  }
  for (size_t i = 0; found == variant->ncases && i < variant->ncases; i++) {
    if (is_instance(obj, tuple_item(cases, i, "VARIANTS"))) {
      found = i;
    }
  }
  if (found == variant->ncases) {
    bad_value(obj, variant->name);
  }
  if (!RT_TYPE_IS_EMPTY(variant->cases[found].ty)) {
    push_payload(cx, obj, variant->name);
  }
  Py_DECREF(obj);
  return (uint32_t)found;
}

static bool option_is_nested(const wit_option_t *option) {
  wit_type_t payload = rt_resolve_type(option->ty);
  return WIT_TYPE_KIND(payload) == WIT_TYPE_OPTION;
}

RT_EXPORT("wit_dylib_push_option")
void wit_dylib_push_option(void *cx, size_t ty, uint32_t discr) {
  check_index(ty, rt_wit->num_options, "option");
  const wit_option_t *option = &rt_wit->options[ty];
  if (discr == 0) {
    Py_INCREF(Py_None);
    rt_cx_push(cx, Py_None);
    return;
  }
  PyObject *payload = rt_cx_pop(cx);
  if (option_is_nested(option)) {
    PyObject *some = PyObject_CallOneArg(rt_some, payload);
    Py_DECREF(payload);
    rt_cx_push(cx, some);
  } else {
    rt_cx_push(cx, payload);
  }
}

RT_EXPORT("wit_dylib_pop_option")
uint32_t wit_dylib_pop_option(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_options, "option");
  const wit_option_t *option = &rt_wit->options[ty];
  PyObject *obj = rt_cx_pop(cx);
  if (obj == Py_None) {
    Py_DECREF(obj);
    return 0;
  }
  if (option_is_nested(option)) {
    if (!is_instance(obj, rt_some)) {
      bad_value(obj, "None or Some(...) (a nested WIT option)");
    }
    push_payload(cx, obj, "Some");
    Py_DECREF(obj);
  } else {
    rt_cx_push(cx, obj);
  }
  return 1;
}

RT_EXPORT("wit_dylib_push_result")
void wit_dylib_push_result(void *cx, size_t ty, uint32_t discr) {
  check_index(ty, rt_wit->num_results, "result");
  const wit_result_t *result = &rt_wit->results[ty];
  wit_type_t payload_ty = discr == 0 ? result->ok : result->err;
  PyObject *payload;
  if (!RT_TYPE_IS_EMPTY(payload_ty)) {
    payload = rt_cx_pop(cx);
  } else {
    payload = Py_None;
    Py_INCREF(payload);
  }
  PyObject *obj = PyObject_CallOneArg(discr == 0 ? rt_ok : rt_err, payload);
  Py_DECREF(payload);
  rt_cx_push(cx, obj);
}

RT_EXPORT("wit_dylib_pop_result")
uint32_t wit_dylib_pop_result(void *cx, size_t ty) {
  check_index(ty, rt_wit->num_results, "result");
  const wit_result_t *result = &rt_wit->results[ty];
  PyObject *obj = rt_cx_pop(cx);
  uint32_t discr;
  if (is_instance(obj, rt_ok)) {
    discr = 0;
  } else if (is_instance(obj, rt_err)) {
    discr = 1;
  } else {
    bad_value(obj, "Ok(...) or Err(...) (a WIT result)");
  }
  wit_type_t payload_ty = discr == 0 ? result->ok : result->err;
  if (!RT_TYPE_IS_EMPTY(payload_ty)) {
    push_payload(cx, obj, discr == 0 ? "Ok" : "Err");
  }
  Py_DECREF(obj);
  return discr;
}

// ---------------------------------------------------------------- lists

static bool list_is_bytes(size_t ty) {
  check_index(ty, rt_wit->num_lists, "list");
  wit_type_t elem = rt_resolve_type(rt_wit->lists[ty].ty);
  return elem == WIT_TYPE_U8;
}

RT_EXPORT("wit_dylib_push_list")
bool wit_dylib_push_list(void *cx, size_t ty, uint8_t *bytes, size_t len) {
  if (list_is_bytes(ty)) {
    PyObject *obj =
        PyBytes_FromStringAndSize((const char *)bytes, (Py_ssize_t)len);
    if (len > 0) {
      free(bytes);
    }
    rt_cx_push(cx, obj);
    return true;
  }
  rt_cx_push(cx, PyList_New(0));
  return false;
}

RT_EXPORT("wit_dylib_list_append")
void wit_dylib_list_append(void *cx, size_t ty) {
  (void)ty;
  PyObject *item = rt_cx_pop(cx);
  PyObject *list = cx_peek(cx);
  if (PyList_Append(list, item) < 0) {
    rt_fatal_python(NULL);
  }
  Py_DECREF(item);
}

RT_EXPORT("wit_dylib_pop_list")
size_t wit_dylib_pop_list(void *cx, size_t ty, void **ptr) {
  PyObject *obj = rt_cx_pop(cx);
  if (list_is_bytes(ty)) {
    if (PyByteArray_Check(obj)) {
      // Copy: the bytearray could be resized while the ABI reads it.
      PyObject *copy = PyBytes_FromObject(obj);
      if (copy == NULL) {
        rt_fatal_python(NULL);
      }
      Py_DECREF(obj);
      obj = copy;
    }
    if (PyBytes_Check(obj)) {
      *ptr = PyBytes_AS_STRING(obj);
      size_t len = (size_t)PyBytes_GET_SIZE(obj);
      rt_cx_keep(cx, obj);
      return len;
    }
  }
  PyObject *seq = PySequence_Fast(obj, "expected a sequence for a WIT list");
  if (seq == NULL) {
    bad_value(obj, "list");
  }
  size_t len = (size_t)PySequence_Fast_GET_SIZE(seq);
  PyObject *iter = PyObject_GetIter(seq);
  Py_DECREF(seq);
  if (iter == NULL) {
    bad_value(obj, "list");
  }
  Py_DECREF(obj);
  rt_cx_push(cx, iter);
  *ptr = NULL;
  return len;
}

RT_EXPORT("wit_dylib_pop_list_iter_next")
void wit_dylib_pop_list_iter_next(void *cx, size_t ty) {
  (void)ty;
  PyObject *iter = cx_peek(cx);
  PyObject *item = PyIter_Next(iter);
  if (item == NULL) {
    if (!PyErr_Occurred()) {
      PyErr_SetString(PyExc_RuntimeError,
                      "a list changed size while it was converted to WIT");
    }
    rt_fatal_python("error: a Python value could not be converted to WIT");
  }
  rt_cx_push(cx, item);
}

RT_EXPORT("wit_dylib_pop_list_iter")
void wit_dylib_pop_list_iter(void *cx, size_t ty) {
  (void)ty;
  PyObject *iter = rt_cx_pop(cx);
  Py_DECREF(iter);
}

// ---------------------------------------------------------------- not yet

// wit-dylib's actual wasm signatures for maps differ from wit_dylib.h:
// push_map returns nothing and pop_map returns the length.
RT_EXPORT("wit_dylib_push_map")
void rt_push_map(void *cx, size_t ty, size_t len) {
  (void)cx, (void)ty, (void)len;
  rt_fatal("error: WIT map types are not supported yet");
}

RT_EXPORT("wit_dylib_map_append")
void wit_dylib_map_append(void *cx, size_t ty) {
  (void)cx, (void)ty;
  rt_fatal("error: WIT map types are not supported yet");
}

RT_EXPORT("wit_dylib_pop_map") size_t rt_pop_map(void *cx, size_t ty) {
  (void)cx, (void)ty;
  rt_fatal("error: WIT map types are not supported yet");
}

RT_EXPORT("wit_dylib_pop_map_iter_next")
void wit_dylib_pop_map_iter_next(void *cx, size_t ty) {
  (void)cx, (void)ty;
  rt_fatal("error: WIT map types are not supported yet");
}

RT_EXPORT("wit_dylib_pop_map_iter")
void wit_dylib_pop_map_iter(void *cx, size_t ty) {
  (void)cx, (void)ty;
  rt_fatal("error: WIT map types are not supported yet");
}

// Streams and futures need the async ABI (streams.c); the sync interpreter
// never meets them (the compiler uses the async one for such worlds).
RT_EXPORT("wit_dylib_push_future")
void wit_dylib_push_future(void *cx, size_t ty, uint32_t handle) {
#ifdef COMPONENTIZE_PY_ASYNC
  rt_push_future(cx, ty, handle);
#else
  (void)cx, (void)ty, (void)handle;
  rt_fatal("error: WIT future types are not supported yet");
#endif
}

RT_EXPORT("wit_dylib_pop_future")
uint32_t wit_dylib_pop_future(void *cx, size_t ty) {
#ifdef COMPONENTIZE_PY_ASYNC
  return rt_pop_future(cx, ty);
#else
  (void)cx, (void)ty;
  rt_fatal("error: WIT future types are not supported yet");
#endif
}

RT_EXPORT("wit_dylib_push_stream")
void wit_dylib_push_stream(void *cx, size_t ty, uint32_t handle) {
#ifdef COMPONENTIZE_PY_ASYNC
  rt_push_stream(cx, ty, handle);
#else
  (void)cx, (void)ty, (void)handle;
  rt_fatal("error: WIT stream types are not supported yet");
#endif
}

RT_EXPORT("wit_dylib_pop_stream")
uint32_t wit_dylib_pop_stream(void *cx, size_t ty) {
#ifdef COMPONENTIZE_PY_ASYNC
  return rt_pop_stream(cx, ty);
#else
  (void)cx, (void)ty;
  rt_fatal("error: WIT stream types are not supported yet");
#endif
}
