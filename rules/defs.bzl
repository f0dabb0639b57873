"""Public API of the componentize-py Bazel rules.

    load("@rules_componentize_py//rules:defs.bzl", "wit_library", "py_wasm_component", "py_wasm_test")
"""

load("//rules/private:providers.bzl", _PyWasmComponentInfo = "PyWasmComponentInfo", _WitInfo = "WitInfo")
load("//rules/private:py_wasm_component.bzl", _py_wasm_component = "py_wasm_component")
load("//rules/private:py_wasm_test.bzl", _py_wasm_test = "py_wasm_test")
load("//rules/private:wit_library.bzl", _wit_library = "wit_library")

wit_library = _wit_library
py_wasm_component = _py_wasm_component
py_wasm_test = _py_wasm_test
WitInfo = _WitInfo
PyWasmComponentInfo = _PyWasmComponentInfo
