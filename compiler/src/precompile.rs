//! `componentize-py precompile`: compile a component ahead of time for this
//! host with the engine settings of `run`, so that a run starts without
//! Cranelift (the Bazel rules' cacheable `Precompile` action; `py_wasm_test`
//! runs the result).

use crate::WasmtimeResultExt;
use anyhow::{Context, Result};
use std::path::Path;

/// Compile the component at `input` for runs with (`for_timeout`) or without
/// `--timeout` (epoch interruption changes the code) and write Wasmtime's
/// serialized form to `output`, atomically. `run` loads such a file without
/// compiling it; it refuses one compiled by another Wasmtime or with other
/// settings.
pub fn precompile(input: &Path, output: &Path, for_timeout: bool) -> Result<()> {
    let bytes = std::fs::read(input).with_context(|| format!("reading `{}`", input.display()))?;
    if wasmtime::Engine::detect_precompiled(&bytes).is_some() {
        anyhow::bail!("`{}` is already precompiled", input.display());
    }
    let limits = crate::run::Limits {
        max_memory: None,
        trap_on_grow_failure: false,
        timeout: for_timeout.then(|| std::time::Duration::from_secs(1)),
    };
    let engine = crate::run::engine_for(&limits, crate::run::uses_async(&bytes))?;
    let compiled = engine
        .precompile_component(&bytes)
        .anyhow()
        .with_context(|| format!("compiling `{}`", input.display()))?;
    crate::componentize::write_atomically(output, &compiled)
        .with_context(|| format!("writing `{}`", output.display()))
}
