//! Running components with the embedded Wasmtime: `wasi:cli/run`, or one
//! exported function called with WAVE-encoded arguments.

use crate::WasmtimeResultExt;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::wasm_wave::{self, untyped::UntypedFuncCall};
use wasmtime::component::{Component, Func, Linker, ResourceTable, Val};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Host state: WASI and its resource table.
pub struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// An engine for running components.
pub fn engine() -> Result<Engine> {
    let config = Config::new();
    Engine::new(&config).anyhow().context("creating the Wasmtime engine")
}

/// A store whose WASI context inherits stdio and passes `args`.
pub fn store(engine: &Engine, args: &[String]) -> Store<Host> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio().args(args);
    Store::new(
        engine,
        Host {
            wasi: wasi.build(),
            table: ResourceTable::new(),
        },
    )
}

/// A linker with WASI 0.2 defined.
pub fn linker(engine: &Engine) -> Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .anyhow()
        .context("adding WASI to the linker")?;
    Ok(linker)
}

/// How many compiled components the on-disk cache keeps.
const DISK_CACHE_ENTRIES: usize = 8;

/// Load a component file: from the on-disk compile cache when this
/// component was compiled before by this Wasmtime with these settings, else
/// compiled by Cranelift (and then cached). A cache problem never fails a
/// run: it only costs the compile.
pub fn load(engine: &Engine, path: &Path) -> Result<Component> {
    let bytes = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
    let key = crate::preinit::cache_key(engine, "run", &bytes);
    let file = crate::preinit::cache_file(&key, "cwasm-component");
    if let Some(file) = &file {
        // SAFETY: the file was written by `Component::serialize` of this
        // program into the user's own cache folder, atomically; Wasmtime
        // checks its version and settings when loading it.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, file) } {
            crate::preinit::cache_touch(file);
            return Ok(component);
        }
    }
    let component = Component::new(engine, &bytes)
        .anyhow()
        .with_context(|| format!("compiling `{}`", path.display()))?;
    if let Some(file) = &file {
        if let Ok(serialized) = component.serialize() {
            crate::preinit::cache_store(file, &serialized, DISK_CACHE_ENTRIES);
        }
    }
    Ok(component)
}

/// `componentize-py run`: call `wasi:cli/run`, or each of `invoke` (WAVE
/// function calls such as `hello("world")`), printing each result in WAVE.
pub fn run(path: &Path, invoke: &[String], args: &[String]) -> Result<()> {
    let engine = engine()?;
    let component = load(&engine, path)?;
    let linker = linker(&engine)?;
    let mut argv = vec![path.display().to_string()];
    argv.extend(args.iter().cloned());
    let mut store = store(&engine, &argv);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        if invoke.is_empty() {
            let command =
                wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, &component, &linker)
                    .await
                    .anyhow()
                    .context("instantiating the component as a `wasi:cli/command`")?;
            let status = command.wasi_cli_run().call_run(&mut store).await.anyhow()?;
            if status.is_err() {
                bail!("the component's `wasi:cli/run` returned an error");
            }
            return Ok(());
        }
        let instance = linker
            .instantiate_async(&mut store, &component)
            .await
            .anyhow()
            .context("instantiating the component")?;
        for call in invoke {
            let results = call_wave(&mut store, &component, &instance, call).await?;
            let text: Vec<String> = results
                .iter()
                .map(|v| wasm_wave::to_string(v).map_err(|e| anyhow!("{e}")))
                .collect::<Result<_>>()?;
            if !text.is_empty() {
                println!("{}", text.join(" "));
            }
        }
        Ok(())
    })
}

/// Call one exported function given as a WAVE call (`name(args...)`); the
/// name is a world-level export or a function of an exported interface.
pub async fn call_wave<T: Send>(
    store: &mut Store<T>,
    component: &Component,
    instance: &wasmtime::component::Instance,
    call: &str,
) -> Result<Vec<Val>> {
    let call = UntypedFuncCall::parse(call).map_err(|e| anyhow!("invalid call `{call}`: {e}"))?;
    let func = find_func(&mut *store, component, instance, call.name())?;
    let ty = func.ty(&*store);
    let param_types: Vec<_> = ty.params().map(|(_, ty)| ty).collect();
    let params = call
        .to_wasm_params::<Val>(param_types.iter())
        .map_err(|e| anyhow!("invalid arguments for `{}`: {e}", call.name()))?;
    let mut results = vec![Val::Bool(false); ty.results().len()];
    func.call_async(&mut *store, &params, &mut results)
        .await
        .anyhow()
        .with_context(|| format!("calling `{}`", call.name()))?;
    Ok(results)
}

fn find_func<T>(
    store: &mut Store<T>,
    component: &Component,
    instance: &wasmtime::component::Instance,
    name: &str,
) -> Result<Func> {
    if let Some(func) = instance.get_func(&mut *store, name) {
        return Ok(func);
    }
    let engine = store.engine().clone();
    let mut found = Vec::new();
    for (iface, item) in component.component_type().exports(&engine) {
        if let ComponentItem::ComponentInstance(inst) = item.ty {
            if inst.exports(&engine).any(|(n, _)| n == name) {
                found.push(iface.to_string());
            }
        }
    }
    match found.as_slice() {
        [iface] => {
            let iface_index = instance
                .get_export_index(&mut *store, None, iface)
                .ok_or_else(|| anyhow!("no export `{iface}`"))?;
            let index = instance
                .get_export_index(&mut *store, Some(&iface_index), name)
                .ok_or_else(|| anyhow!("no export `{iface}#{name}`"))?;
            instance
                .get_func(&mut *store, index)
                .ok_or_else(|| anyhow!("`{iface}#{name}` is not a function"))
        }
        [] => bail!("the component exports no function `{name}`"),
        many => bail!("`{name}` is exported by several interfaces: {}", many.join(", ")),
    }
}

