//! componentize-py: compile a Python application and a WIT world into a
//! WebAssembly component.
//!
//! The pipeline (see `docs/internals.md`):
//! [`wit`] resolves the world, [`bindings`] writes the `wit_world` Python
//! package, `wit-dylib` makes the bindings library, [`merge`] links it into
//! the interpreter module, [`preinit`] snapshots CPython with the app
//! imported and the modules that [`bundle`] selects, and [`componentize`] wraps the result into a component.
//! [`run`] executes components with the embedded Wasmtime; [`compose`]
//! plugs components into each other's imports.

pub mod bindings;
pub mod bundle;
pub mod bytecode;
pub mod capabilities;
pub mod merge;
pub mod outgoing;
mod parallel_write;
pub mod poll_loop;
pub mod componentize;
pub mod compose;
pub mod config;
pub mod limits;
pub mod memo;
mod init_library;
pub mod embedded;
pub mod preinit;
pub mod precompile;
pub mod run;
pub mod run_p3;
pub mod serve;
pub mod serve_p3;
pub mod stdlib_pycs;
pub mod stub_wasi;
pub mod toolchain;
pub mod validate;
pub mod wit;
pub mod worker_protocol;

/// Wasmtime 48 has an error type of its own; this turns its results into
/// `anyhow` results so that `anyhow::Context` applies.
pub(crate) trait WasmtimeResultExt<T> {
    /// Convert the error into an [`anyhow::Error`].
    fn anyhow(self) -> anyhow::Result<T>;
}

impl<T> WasmtimeResultExt<T> for Result<T, wasmtime::Error> {
    fn anyhow(self) -> anyhow::Result<T> {
        self.map_err(Into::into)
    }
}
