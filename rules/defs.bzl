"""Public API of the componentize-py Bazel rules.

    load("@rules_componentize_py//rules:defs.bzl", "wit_library", "py_wasm_component", "py_wasm_test")
    load("@rules_componentize_py//rules:defs.bzl", "py_wasm_run", "py_wasm_serve", "py_wasm_bindings")
    load("@rules_componentize_py//rules:defs.bzl", "py_wasm_compose")

py_wasm_interpreter builds the interpreter module; the registered runtime
toolchain uses one (//toolchains:interpreter).
"""

load("//rules/private:providers.bzl", _CPythonInfo = "CPythonInfo", _ComponentizePyRuntimeInfo = "ComponentizePyRuntimeInfo", _PyWasmComponentInfo = "PyWasmComponentInfo", _WasiCcInfo = "WasiCcInfo", _WitInfo = "WitInfo")
load("//rules/private:py_wasm_component.bzl", _py_wasm_component = "py_wasm_component")
load("//rules/private:py_wasm_bindings.bzl", _py_wasm_bindings = "py_wasm_bindings")
load("//rules/private:py_wasm_compose.bzl", _py_wasm_compose = "py_wasm_compose")
load("//rules/private:py_wasm_interpreter.bzl", _py_wasm_interpreter = "py_wasm_interpreter")
load("//rules/private:py_wasm_run.bzl", _py_wasm_run = "py_wasm_run", _py_wasm_serve = "py_wasm_serve")
load("//rules/private:py_wasm_test.bzl", _py_wasm_test = "py_wasm_test")
load("//rules/private:wit_library.bzl", _wit_library = "wit_library")

wit_library = _wit_library
py_wasm_component = _py_wasm_component
py_wasm_test = _py_wasm_test
py_wasm_run = _py_wasm_run
py_wasm_serve = _py_wasm_serve
py_wasm_bindings = _py_wasm_bindings
py_wasm_compose = _py_wasm_compose
WitInfo = _WitInfo
PyWasmComponentInfo = _PyWasmComponentInfo
py_wasm_interpreter = _py_wasm_interpreter
ComponentizePyRuntimeInfo = _ComponentizePyRuntimeInfo
CPythonInfo = _CPythonInfo
WasiCcInfo = _WasiCcInfo
