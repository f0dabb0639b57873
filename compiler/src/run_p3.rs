//! `componentize-py run` for WASI 0.3 commands: components that export
//! `wasi:cli/run@0.3.x`, whose `run` is an async function, on
//! `wasmtime-wasi`'s `p3` host.
//!
//! Such a component imports WASI 0.2 as well: Python's own stdio (`print`)
//! goes through wasi-libc and the preview1 adapter to the `wasi:cli@0.2`
//! interfaces. So its linker has both versions ([`add_to_linker`] next to
//! [`crate::run::linker`]).

use crate::run::Host;
use crate::WasmtimeResultExt;
use anyhow::{bail, Context, Result};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiView;

/// The prefix of the export that makes a component a WASI 0.3 command.
const RUN_EXPORT: &str = "wasi:cli/run@0.3.";

/// True when `component` exports `wasi:cli/run` of WASI 0.3.
pub fn exports_run(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name.starts_with(RUN_EXPORT))
}

/// Add WASI 0.3 (`wasmtime-wasi`'s `p3`: cli, clocks, filesystem, random,
/// sockets) to `linker`, which must be for an engine with the component
/// model's async support ([`crate::run::engine_for`]).
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    wasmtime_wasi::p3::add_to_linker(linker)
        .anyhow()
        .context("adding WASI 0.3 to the linker")
}

/// Instantiate `component` as a `wasi:cli/command@0.3.x` and call its
/// async `run` to the end; its `err` result is an error (exit code 1).
pub async fn run_command(store: &mut Store<Host>, component: &Component, linker: &Linker<Host>) -> Result<()> {
    let command = wasmtime_wasi::p3::bindings::Command::instantiate_async(&mut *store, component, linker)
        .await
        .anyhow()
        .context("instantiating the component as a `wasi:cli/command@0.3.0`")?;
    let status = store
        .run_concurrent(async |accessor| command.wasi_cli_run().call_run(accessor).await)
        .await
        .anyhow()
        .context("running the component's `wasi:cli/run@0.3.0`")?
        .anyhow()
        .context("running the component's `wasi:cli/run@0.3.0`")?;
    if status.is_err() {
        bail!("the component's `wasi:cli/run` returned an error");
    }
    Ok(())
}
