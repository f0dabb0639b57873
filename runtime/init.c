// `componentize-py-init`: start CPython, import the app, resolve the
// exports, forget the build-time environment (docs/internals.md, section 4);
// and the run-time refresh at the first export call.

#include "runtime.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>
#include <wasi/libc-environ.h>
#include <wasi/libc.h>

extern char **environ;

__attribute__((import_module("componentize-py"), import_name("bindings-init")))
void rt_bindings_init(void);

PyObject *rt_records = NULL;
PyObject *rt_flags = NULL;
PyObject *rt_enums = NULL;
PyObject *rt_variants = NULL;
PyObject *rt_some = NULL;
PyObject *rt_ok = NULL;
PyObject *rt_err = NULL;
PyObject **rt_export_methods = NULL;
bool *rt_export_is_method = NULL;
char rt_registry_name[RT_REGISTRY_NAME_MAX] = "";

static bool refreshed_at_run_time = false;
static void settle_without_wasi(void);

// ---------------------------------------------------------------- CPython start

static void check_status(PyStatus status, PyConfig *config) {
  if (PyStatus_Exception(status)) {
    PyConfig_Clear(config);
    rt_fatal("error: could not start Python: %s%s%s",
             status.func ? status.func : "", status.func ? ": " : "",
             status.err_msg ? status.err_msg : "(unknown error)");
  }
}

static void append_path(PyConfig *config, const char *path) {
  wchar_t *wide = Py_DecodeLocale(path, NULL);
  if (wide == NULL) {
    PyConfig_Clear(config);
    rt_fatal("error: could not decode the path '%s'", path);
  }
  PyStatus status =
      PyWideStringList_Append(&config->module_search_paths, wide);
  PyMem_RawFree(wide);
  check_status(status, config);
}

static void start_python(void) {
  if (PyImport_AppendInittab("componentize_py_runtime",
                             PyInit_componentize_py_runtime) < 0) {
    rt_fatal("error: could not register the module componentize_py_runtime");
  }

  // Small Python objects from pools, not dlmalloc (pyalloc.c).
  rt_install_allocator();

  // UTF-8 mode: the WASI C locale would otherwise make open() and friends
  // default to ASCII.
  PyPreConfig preconfig;
  PyPreConfig_InitIsolatedConfig(&preconfig);
  preconfig.utf8_mode = 1;
  PyStatus prestatus = Py_PreInitialize(&preconfig);
  if (PyStatus_Exception(prestatus)) {
    rt_fatal("error: could not start Python: %s",
             prestatus.err_msg ? prestatus.err_msg : "(unknown error)");
  }

  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.site_import = 0;
  config.write_bytecode = 0;
  config.install_signal_handlers = 0;
  // Unbuffered sys.stdout and sys.stderr (as upstream componentize-py):
  // output reaches the host at once, and the per-call flush is free
  // (errors.c, rt_stdio_init).
  config.buffered_stdio = 0;
  config.use_hash_seed = 1;
  config.hash_seed = 0;
  config.pathconfig_warnings = 0;
  config.parse_argv = 0;
  check_status(PyConfig_SetString(&config, &config.home, L"/python"), &config);
  check_status(PyConfig_SetString(&config, &config.program_name, L"python3"),
               &config);

  config.module_search_paths_set = 1;
  append_path(&config, "/python/lib/python3.11");
  const char *extra = getenv("COMPONENTIZE_PY_PATH");
  if (extra != NULL) {
    char *copy = strdup(extra);
    if (copy == NULL) {
      rt_fatal("error: out of memory");
    }
    char *rest = copy;
    char *entry;
    while ((entry = strsep(&rest, ":")) != NULL) {
      if (entry[0] != '\0') {
        append_path(&config, entry);
      }
    }
    free(copy);
  }

  PyStatus status = Py_InitializeFromConfig(&config);
  check_status(status, &config);
  PyConfig_Clear(&config);
}

// ---------------------------------------------------------------- registry

_Noreturn void rt_fatal_pythonf(const char *format, ...) {
  char context[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(context, sizeof context, format, args);
  va_end(args);
  rt_fatal_python(context);
}

// The registry's name, `<package>._registry`, the package being the one the
// compiler generated and names in env COMPONENTIZE_PY_WORLD_MODULE
// (`wit_world` unless renamed with `--world-module`).
static void set_registry_name(void) {
  const char *package = getenv("COMPONENTIZE_PY_WORLD_MODULE");
  if (package == NULL || package[0] == '\0') {
    rt_fatal("error: COMPONENTIZE_PY_WORLD_MODULE is not set (the name of "
             "the generated bindings package)");
  }
  int written = snprintf(rt_registry_name, sizeof rt_registry_name,
                         "%s._registry", package);
  if (written < 0 || (size_t)written >= sizeof rt_registry_name) {
    rt_fatal("error: the bindings package name '%s' is too long", package);
  }
}

// New reference to `module.name`, fatal when missing.
static PyObject *registry_attr(PyObject *registry, const char *name) {
  PyObject *value = PyObject_GetAttrString(registry, name);
  if (value == NULL) {
    rt_fatal_pythonf("error: %s is incomplete (were the bindings generated "
                     "by this version of componentize-py?)",
                     rt_registry_name);
  }
  return value;
}

static PyObject *registry_list(PyObject *registry, const char *name) {
  PyObject *value = registry_attr(registry, name);
  if (!PyList_Check(value)) {
    PyObject *list = PySequence_List(value);
    Py_DECREF(value);
    if (list == NULL) {
      rt_fatal_pythonf("error: table %s.%s is not a list", rt_registry_name,
                       name);
    }
    value = list;
  }
  return value;
}

static void export_label(const wit_export_func_t *func, char *buf,
                         size_t size) {
  if (func->interface != NULL) {
    snprintf(buf, size, "%s#%s", func->interface, func->name);
  } else {
    snprintf(buf, size, "%s", func->name);
  }
}

// An exported resource function: EXPORTS entry (resource index, Python
// name, kind) with kind "constructor" (call the class), "static" (call the
// class's attribute) or "method" (call the attribute of the first argument).
static void resolve_resource_export(PyObject *entry, size_t which,
                                    const char *label) {
  Py_ssize_t ty;
  const char *name, *kind;
  if (!PyArg_ParseTuple(entry, "nss", &ty, &name, &kind)) {
    rt_fatal_pythonf("error: malformed entry in %s.EXPORTS",
                     rt_registry_name);
  }
  if (ty < 0 || (size_t)ty >= rt_wit->num_resources ||
      rt_resource_classes[ty] == NULL) {
    rt_fatal("error: %s.EXPORTS: bad resource index %zd", rt_registry_name,
             ty);
  }
  PyObject *cls = rt_resource_classes[ty];
  const char *class_name = ((PyTypeObject *)cls)->tp_name;
  if (strcmp(kind, "constructor") == 0) {
    Py_INCREF(cls);
    rt_export_methods[which] = cls;
    return;
  }
  PyObject *attr = PyObject_GetAttrString(cls, name);
  if (attr == NULL) {
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
      rt_fatal_python(NULL);
    }
    PyErr_Clear();
    rt_fatal("error: class '%s' has no method '%s', which the world's "
             "export '%s' needs",
             class_name, name, label);
  }
  if (!PyCallable_Check(attr)) {
    rt_fatal("error: '%s.%s' is not callable, but the world's export '%s' "
             "needs a method",
             class_name, name, label);
  }
  if (strcmp(kind, "static") == 0) {
    rt_export_methods[which] = attr;
  } else if (strcmp(kind, "method") == 0) {
    Py_DECREF(attr);
    PyObject *method_name = PyUnicode_InternFromString(name);
    if (method_name == NULL) {
      rt_fatal_python(NULL);
    }
    rt_export_methods[which] = method_name;
    rt_export_is_method[which] = true;
  } else {
    rt_fatal("error: %s.EXPORTS: unknown kind '%s'", rt_registry_name, kind);
  }
}

static void resolve_exports(PyObject *registry, PyObject *app,
                            const char *app_name) {
  PyObject *exports = registry_list(registry, "EXPORTS");
  size_t count = rt_wit->num_export_funcs;
  if ((size_t)PyList_GET_SIZE(exports) != count) {
    rt_fatal("error: %s.EXPORTS has %zd entries but the world has %zu "
             "exported functions",
             rt_registry_name, PyList_GET_SIZE(exports), count);
  }
  rt_export_methods = calloc(count ? count : 1, sizeof(PyObject *));
  rt_export_is_method = calloc(count ? count : 1, sizeof(bool));
  if (rt_export_methods == NULL || rt_export_is_method == NULL) {
    rt_fatal("error: out of memory");
  }
  PyObject *instances = PyDict_New(); // class name -> instance
  if (instances == NULL) {
    rt_fatal_python(NULL);
  }
  for (size_t i = 0; i < count; i++) {
    char label[512];
    export_label(&rt_wit->export_funcs[i], label, sizeof label);

    PyObject *entry = PyList_GET_ITEM(exports, i);
    if (PyTuple_Check(entry) && PyTuple_GET_SIZE(entry) == 3) {
      resolve_resource_export(entry, i, label);
      continue;
    }
    const char *class_name, *method_name;
    if (!PyTuple_Check(entry) ||
        !PyArg_ParseTuple(entry, "ss", &class_name, &method_name)) {
      rt_fatal_pythonf("error: malformed entry in %s.EXPORTS",
                       rt_registry_name);
    }

    PyObject *instance = PyDict_GetItemString(instances, class_name);
    if (instance == NULL) {
      PyObject *cls = PyObject_GetAttrString(app, class_name);
      if (cls == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
          rt_fatal_python(NULL);
        }
        PyErr_Clear();
        rt_fatal("error: app module '%s' has no class '%s', which the "
                 "world's export '%s' needs",
                 app_name, class_name, label);
      }
      instance = PyObject_CallNoArgs(cls);
      Py_DECREF(cls);
      if (instance == NULL) {
        rt_print_exception();
        rt_fatal("error: could not instantiate class '%s' of app module "
                 "'%s' (traceback above)",
                 class_name, app_name);
      }
      if (PyDict_SetItemString(instances, class_name, instance) < 0) {
        rt_fatal_python(NULL);
      }
      Py_DECREF(instance); // the dict holds it
    }

    PyObject *method = PyObject_GetAttrString(instance, method_name);
    if (method == NULL) {
      if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
        rt_fatal_python(NULL);
      }
      PyErr_Clear();
      rt_fatal("error: class '%s' of app module '%s' has no method '%s', "
               "which the world's export '%s' needs",
               class_name, app_name, method_name, label);
    }
    if (!PyCallable_Check(method)) {
      rt_fatal("error: '%s.%s' of app module '%s' is not callable, but the "
               "world's export '%s' needs a method",
               class_name, method_name, app_name, label);
    }
    rt_export_methods[i] = method; // owned, kept for the program's life
  }
  // The bound methods keep their instances alive.
  Py_DECREF(instances);
  Py_DECREF(exports);
}

// ---------------------------------------------------------------- bundle

// Keep the modules that the app may import at run time: the compiler wrote
// `_componentize_py_bundle` (compiler/src/bundle.py) next to the bindings;
// its `collect(mode, packages)` compiles them into the snapshot and installs
// the finder that serves them. Mode and packages come from env
// COMPONENTIZE_PY_BUNDLE and COMPONENTIZE_PY_BUNDLE_PACKAGES
// (comma-separated).
static void bundle_modules(void) {
  const char *mode = getenv("COMPONENTIZE_PY_BUNDLE");
  const char *packages = getenv("COMPONENTIZE_PY_BUNDLE_PACKAGES");
  if (mode == NULL || mode[0] == '\0') {
    rt_fatal("error: COMPONENTIZE_PY_BUNDLE is not set (which modules to "
             "bundle)");
  }
  PyObject *module = PyImport_ImportModule("_componentize_py_bundle");
  if (module == NULL) {
    rt_fatal_python("error: could not import _componentize_py_bundle");
  }
  PyObject *result = PyObject_CallMethod(module, "collect", "ss", mode,
                                         packages ? packages : "");
  Py_DECREF(module);
  if (result == NULL) {
    rt_print_exception();
    rt_fatal("error: could not bundle the modules for run-time imports "
             "(traceback above)");
  }
  Py_DECREF(result);
}

// Before the app's import, in `reachable` mode: the bundler keeps the code
// objects that the import compiles from the app's sources, so that its scan
// for imports reads them instead of compiling every source a second time
// (`record_code` in compiler/src/bundle.py).
static void bundle_record(void) {
  const char *mode = getenv("COMPONENTIZE_PY_BUNDLE");
  if (mode == NULL || strcmp(mode, "reachable") != 0) {
    return;
  }
  PyObject *module = PyImport_ImportModule("_componentize_py_bundle");
  if (module == NULL) {
    rt_fatal_python("error: could not import _componentize_py_bundle");
  }
  PyObject *result = PyObject_CallMethod(module, "record_code", NULL);
  Py_DECREF(module);
  if (result == NULL) {
    rt_fatal_python("error: could not start recording the app's code");
  }
  Py_DECREF(result);
}

// ---------------------------------------------------------------- init

bool rt_initializing = false;

// `sys.exit(n)` (SystemExit) escaped the app's import: say so in a
// sentence, with the exit status, instead of a traceback.
static _Noreturn void exit_during_import(const char *app_name) {
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  PyObject *code = value ? PyObject_GetAttrString(value, "code") : NULL;
  PyObject *text = code ? PyObject_Repr(code) : NULL;
  const char *status = text ? PyUnicode_AsUTF8(text) : NULL;
  PyErr_Clear();
  rt_fatal("error: the app called sys.exit(%s) while app module '%s' was "
           "being imported: a component is built by importing the app, "
           "which must return; move the exit into a function that runs "
           "later",
           status ? status : "", app_name);
}

// For the compiler after a stopped initialisation run (the import time
// limit, a cancel, os._exit; compiler/src/limits.rs): the names of the
// modules whose bodies were running, innermost first, comma-separated, as a
// NUL-terminated string. Only reads the interpreter's frames.
static char importing[2048];

RT_EXPORT("componentize-py-importing") const char *componentize_py_importing(
    void) {
  importing[0] = '\0';
  if (!Py_IsInitialized()) {
    return importing;
  }
  PyThreadState *tstate = _PyThreadState_UncheckedGet();
  PyFrameObject *frame = tstate ? PyThreadState_GetFrame(tstate) : NULL;
  size_t used = 0;
  while (frame != NULL) {
    PyCodeObject *code = PyFrame_GetCode(frame);
    if (code != NULL && code->co_name != NULL &&
        PyUnicode_CompareWithASCIIString(code->co_name, "<module>") == 0) {
      PyObject *globals = PyFrame_GetGlobals(frame);
      PyObject *name =
          globals ? PyDict_GetItemString(globals, "__name__") : NULL;
      const char *text =
          name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
      if (text != NULL && used + strlen(text) + 3 < sizeof importing) {
        used += (size_t)snprintf(importing + used, sizeof importing - used,
                                 "%s%s", used ? ", " : "", text);
      }
      Py_XDECREF(globals);
    }
    Py_XDECREF(code);
    PyFrameObject *back = PyFrame_GetBack(frame);
    Py_DECREF(frame);
    frame = back;
  }
  PyErr_Clear();
  return importing;
}

RT_EXPORT("componentize-py-init") void componentize_py_init(void) {
  rt_initializing = true;
  rt_preinit_fs_begin();
  // 1. The bindings library's constructors call wit_dylib_initialize.
  rt_bindings_init();
  if (rt_wit == NULL) {
    rt_fatal("error: the bindings library did not call wit_dylib_initialize");
  }

  // 2. CPython.
  start_python();
  rt_stdio_init();

  // 3. Registry, app, exports.
  set_registry_name();
  PyObject *registry = PyImport_ImportModule(rt_registry_name);
  if (registry == NULL) {
    rt_fatal_pythonf("error: could not import %s (traceback above)",
                     rt_registry_name);
  }
  rt_records = registry_list(registry, "RECORDS");
  rt_flags = registry_list(registry, "FLAGS");
  rt_enums = registry_list(registry, "ENUMS");
  rt_variants = registry_list(registry, "VARIANTS");
  rt_some = registry_attr(registry, "Some");
  rt_ok = registry_attr(registry, "Ok");
  rt_err = registry_attr(registry, "Err");

  // os is frozen; import it now so os.environ exists in the snapshot and can
  // be refreshed in place at run time.
  PyObject *os = PyImport_ImportModule("os");
  if (os == NULL) {
    rt_fatal_python("error: could not import os");
  }
  Py_DECREF(os);

  const char *app_name = getenv("COMPONENTIZE_PY_APP");
  if (app_name == NULL || app_name[0] == '\0') {
    rt_fatal("error: COMPONENTIZE_PY_APP is not set (the app module name)");
  }
  bundle_record();
  PyObject *app = PyImport_ImportModule(app_name);
  if (app == NULL && PyErr_ExceptionMatches(PyExc_SystemExit)) {
    exit_during_import(app_name);
  }
  if (app == NULL) {
    rt_print_exception();
    rt_fatal("error: could not import app module '%s' (traceback above)",
             app_name);
  }
  rt_resolve_resources(registry);
  resolve_exports(registry, app, app_name);
  Py_DECREF(app);
  Py_DECREF(registry);
#ifdef COMPONENTIZE_PY_ASYNC
  // The event loop must be in the snapshot: nothing is imported from files
  // at run time.
  rt_async_init();
#endif

  // 4. Modules for imports at run time.
  bundle_modules();
  settle_without_wasi();

  // 5. Forget the build-time environment. The path finders cached for the
  // build-time folders hold their modification times, which would make the
  // snapshot differ from build to build; those folders do not exist at run
  // time anyway.
  if (PyRun_SimpleString("import sys\nsys.path_importer_cache.clear()\n") != 0) {
    rt_fatal("error: could not clear sys.path_importer_cache");
  }
  // Free the cyclic garbage of the imports (module and class set-up) before
  // the snapshot: freed memory is zeroed while initialising (heap.c), and
  // zeros cost nothing in the snapshot.
  PyGC_Collect();
  rt_flush_stdio();
  __wasilibc_reset_preopens();
  __wasilibc_deinitialize_environ();
  rt_preinit_fs_end();
  rt_initializing = false;
}

// ---------------------------------------------------------------- run time

// New reference to os.environ._data, emptied. It maps encoded (bytes) keys
// to encoded values and is shared with os.environb.
static PyObject *cleared_environ_data(void) {
  PyObject *os = PyImport_ImportModule("os");
  PyObject *env = os == NULL ? NULL : PyObject_GetAttrString(os, "environ");
  PyObject *data = env == NULL ? NULL : PyObject_GetAttrString(env, "_data");
  Py_XDECREF(env);
  Py_XDECREF(os);
  if (data == NULL || !PyDict_Check(data)) {
    rt_fatal_python("error: os.environ has no _data dict");
  }
  PyDict_Clear(data);
  return data;
}

static void refresh_environ(void) {
  __wasilibc_ensure_environ();
  PyObject *data = cleared_environ_data();
  for (char **entry = environ; entry != NULL && *entry != NULL; entry++) {
    const char *eq = strchr(*entry, '=');
    if (eq == NULL || eq == *entry) {
      continue;
    }
    PyObject *key = PyBytes_FromStringAndSize(*entry, eq - *entry);
    PyObject *value = PyBytes_FromString(eq + 1);
    if (key == NULL || value == NULL ||
        PyDict_SetDefault(data, key, value) == NULL) {
      rt_fatal_python(NULL);
    }
    Py_DECREF(key);
    Py_DECREF(value);
  }
  Py_DECREF(data);
}

static void refresh_argv(void) {
  size_t argc = 0, size = 0;
  if (__wasi_args_sizes_get(&argc, &size) != 0) {
    argc = 0;
    size = 0;
  }
  char **argv = calloc(argc + 1, sizeof(char *));
  char *buf = malloc(size + 1);
  if (argv == NULL || buf == NULL) {
    rt_fatal("error: out of memory");
  }
  if (argc > 0 && __wasi_args_get((uint8_t **)argv, (uint8_t *)buf) != 0) {
    argc = 0;
  }
  PyObject *list = PyList_New(0);
  if (list == NULL) {
    rt_fatal_python(NULL);
  }
  for (size_t i = 0; i < argc; i++) {
    PyObject *arg =
        PyUnicode_DecodeUTF8(argv[i], strlen(argv[i]), "surrogateescape");
    if (arg == NULL || PyList_Append(list, arg) < 0) {
      rt_fatal_python(NULL);
    }
    Py_DECREF(arg);
  }
  if (argc == 0) {
    PyObject *empty = PyUnicode_FromString("");
    if (empty == NULL || PyList_Append(list, empty) < 0) {
      rt_fatal_python(NULL);
    }
    Py_DECREF(empty);
  }
  if (PySys_SetObject("argv", list) < 0) {
    rt_fatal_python(NULL);
  }
  Py_DECREF(list);
  free(argv);
  free(buf);
}

static void reseed_random(void) {
  PyObject *modules = PyImport_GetModuleDict(); // borrowed
  PyObject *random = PyDict_GetItemString(modules, "random"); // borrowed
  if (random == NULL) {
    return;
  }
  PyObject *result = PyObject_CallMethod(random, "seed", NULL);
  if (result == NULL) {
    rt_fatal_python("error: could not reseed random");
  }
  Py_DECREF(result);
}

// `componentize --stub-wasi` (env COMPONENTIZE_PY_STUB_WASI=1 while
// initialising): the component will have no WASI and every WASI call will
// trap, so the first export call must not ask the host for its environment,
// arguments or entropy. Instead the snapshot gets what a host without WASI
// would give: an empty os.environ and sys.argv == ['']; `random`, if the app
// imported it, keeps the build's fixed seed.
static void settle_without_wasi(void) {
  const char *stub = getenv("COMPONENTIZE_PY_STUB_WASI");
  if (stub == NULL || strcmp(stub, "1") != 0) {
    return;
  }
  Py_DECREF(cleared_environ_data());
  PyObject *argv = Py_BuildValue("[s]", "");
  if (argv == NULL || PySys_SetObject("argv", argv) < 0) {
    rt_fatal_python(NULL);
  }
  Py_DECREF(argv);
  refreshed_at_run_time = true;
}

void rt_runtime_refresh_once(void) {
  if (refreshed_at_run_time) {
    return;
  }
  refreshed_at_run_time = true;
  refresh_environ();
  refresh_argv();
  reseed_random();
}
