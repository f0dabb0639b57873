//! componentize-py: compile a Python application and a WIT world into a
//! WebAssembly component.
//!
//! The pipeline (see `docs/internals.md`):
//! [`wit`] resolves the world, [`bindings`] writes the `wit_world` Python
//! package, `wit-dylib` makes the bindings library, [`merge`] links it into
//! the interpreter module, [`preinit`] snapshots CPython with the app
//! imported, and [`componentize`] wraps the result into a component.
//! [`run`] executes components with the embedded Wasmtime.

pub mod bindings;
pub mod merge;
