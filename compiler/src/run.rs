//! Running components with the embedded Wasmtime: `wasi:cli/run` (of WASI
//! 0.2, or 0.3's async one: [`crate::run_p3`]), or one exported function
//! called with WAVE-encoded arguments, optionally under [`Limits`]
//! (`--max-memory`, `--timeout`).

use crate::capabilities::Capabilities;
use crate::WasmtimeResultExt;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::wasm_wave::{self, untyped::UntypedFuncCall};
use wasmtime::component::{Component, Func, Linker, ResourceTable, Val};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Host state: WASI, its resource table and the memory cap.
pub struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
}

/// Limits on what a run may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// `--max-memory`: the most bytes any one linear memory of the
    /// component may grow to; a `memory.grow` beyond it fails (returns -1,
    /// so CPython raises `MemoryError`), or traps with
    /// [`Limits::trap_on_grow_failure`].
    pub max_memory: Option<usize>,
    /// `--trap-on-grow-failure`: a growth beyond `max_memory` stops the
    /// component with an error instead of failing in the guest.
    pub trap_on_grow_failure: bool,
    /// `--timeout`: how long the component may run (instantiation and
    /// calls, not compilation) before it is interrupted.
    pub timeout: Option<Duration>,
}

/// A [`wasmtime::ResourceLimiter`] that caps linear memory and remembers
/// the growth it refused, for the error message.
#[derive(Debug, Default)]
pub struct MemoryCap {
    max: Option<usize>,
    trap: bool,
    refused: Option<usize>,
}

impl MemoryCap {
    /// A cap of `max` bytes per linear memory (`None`: no cap); a growth
    /// beyond it fails in the guest.
    pub fn new(max: Option<usize>) -> Self {
        MemoryCap { max, trap: false, refused: None }
    }

    /// A cap like [`MemoryCap::new`] whose refusals trap instead.
    pub fn trapping(max: Option<usize>) -> Self {
        MemoryCap { max, trap: true, refused: None }
    }

    /// The size a refused growth asked for, if one was refused.
    pub fn refused(&self) -> Option<usize> {
        self.refused
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.max {
            Some(max) if desired > max => {
                self.refused = Some(desired);
                if !self.trap {
                    // `memory.grow` returns -1: malloc returns NULL and
                    // CPython raises MemoryError, which the app may handle.
                    return Ok(false);
                }
                // An error traps the guest at once.
                Err(wasmtime::Error::msg(format!(
                    "the component tried to grow a linear memory from {} to {}, \
                     beyond --max-memory {}",
                    human_size(current),
                    human_size(desired),
                    human_size(max)
                )))
            }
            _ => Ok(true),
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// `bytes` in the largest binary unit that keeps it readable, e.g. `64 MiB`.
pub fn human_size(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Split `12.5M` into the number and the unit after it (`what` names the
/// expected form in the error).
fn number_and_unit<'a>(text: &'a str, what: &str) -> Result<(f64, &'a str), String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number.parse().map_err(|_| format!("`{text}` is not {what}"))?;
    Ok((number, unit))
}

/// Parse a `--max-memory` size: a number of bytes with an optional unit
/// `K`, `M`, `G` (powers of 1024; `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB` and
/// lower case are accepted too), e.g. `64M`, `1.5GiB`, `65536`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text, "a size such as `64M` or `1G`")?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit `{other}` in `{text}` (use K, M or G)")),
    };
    let bytes = number * scale;
    if !(1.0..=usize::MAX as f64).contains(&bytes) {
        return Err(format!("size `{text}` is out of range"));
    }
    Ok(bytes as usize)
}

/// Parse a `--timeout` duration: a number with a unit `ms`, `s`, `m` or `h`,
/// or a plain number of seconds, e.g. `500ms`, `2s`, `1.5`, `1m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text, "a duration such as `2s` or `500ms`")?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("unknown duration unit `{other}` in `{text}` (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("duration `{text}` is out of range"))
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
    engine_with(&Limits::default())
}

/// An engine for running components under `limits`: with epoch
/// interruption when there is a timeout (it costs a check on every loop
/// back-edge and function entry, so it is off otherwise).
pub fn engine_with(limits: &Limits) -> Result<Engine> {
    engine_for(limits, false)
}

/// [`engine_with`], with the component model's async ABI and Wasmtime's
/// concurrency support when `async_` (for components that lift or lower
/// functions async, see [`uses_async`]). Without it the engine is the one
/// of sync components before async support existed: concurrency support
/// routes every call through Wasmtime's task machinery.
pub fn engine_for(limits: &Limits, async_: bool) -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(limits.timeout.is_some());
    config.concurrency_support(async_);
    config.wasm_component_model_async(async_);
    Engine::new(&config).anyhow().context("creating the Wasmtime engine")
}

/// True when the component `bytes` uses the component model's async ABI:
/// a function lifted or lowered `async`, or an async built-in (task
/// return, waitable sets, subtasks, streams, futures, ...). Only the
/// top-level component's canonical functions are looked at, which is where
/// componentize-py's components (and wit-component's) have them.
pub fn uses_async(bytes: &[u8]) -> bool {
    use wasmparser::{CanonicalFunction, CanonicalOption, Parser, Payload};
    let async_options = |options: &[CanonicalOption]| {
        options.iter().any(|o| matches!(o, CanonicalOption::Async | CanonicalOption::Callback(_)))
    };
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { return false };
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentCanonicalSection(reader) if depth == 0 => {
                for func in reader.into_iter().flatten() {
                    let found = match func {
                        CanonicalFunction::Lift { options, .. }
                        | CanonicalFunction::Lower { options, .. } => async_options(&options),
                        CanonicalFunction::ResourceNew { .. }
                        | CanonicalFunction::ResourceDrop { .. }
                        | CanonicalFunction::ResourceRep { .. } => false,
                        _ => true,
                    };
                    if found {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// A store whose WASI context inherits stdio and passes `args`.
pub fn store(engine: &Engine, args: &[String]) -> Store<Host> {
    store_with(engine, args, &Limits::default())
}

/// A store like [`store`] whose linear memories are capped at
/// `limits.max_memory`. The timeout is armed by [`Watchdog::arm`].
pub fn store_with(engine: &Engine, args: &[String], limits: &Limits) -> Store<Host> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio().args(args);
    store_from(engine, wasi, limits)
}

/// A store like [`store_with`] that also grants `capabilities`
/// (directories, environment, network); a directory that cannot be opened
/// is an error.
pub fn store_granting(
    engine: &Engine,
    args: &[String],
    limits: &Limits,
    capabilities: &Capabilities,
) -> Result<Store<Host>> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio().args(args);
    capabilities.apply(&mut wasi)?;
    Ok(store_from(engine, wasi, limits))
}

/// A store for `wasi`, under `limits`.
fn store_from(engine: &Engine, mut wasi: WasiCtxBuilder, limits: &Limits) -> Store<Host> {
    let mut store = Store::new(
        engine,
        Host {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            memory: if limits.trap_on_grow_failure {
                MemoryCap::trapping(limits.max_memory)
            } else {
                MemoryCap::new(limits.max_memory)
            },
        },
    );
    store.limiter(|host| &mut host.memory);
    store
}

/// The `--timeout` of one store: interrupts its guest when time is up.
pub struct Watchdog {
    fired: Arc<AtomicBool>,
    timeout: Option<Duration>,
}

impl Watchdog {
    /// Arm `timeout` (if any) for `store`, whose engine must have epoch
    /// interruption on ([`engine_with`]): from now on, the guest traps at
    /// its next epoch check after `timeout` has passed. The timer thread
    /// ends by itself when the time is up; the process may exit before.
    pub fn arm<T>(store: &mut Store<T>, timeout: Option<Duration>) -> Result<Watchdog> {
        let fired = Arc::new(AtomicBool::new(false));
        if let Some(timeout) = timeout {
            store.set_epoch_deadline(1);
            store.epoch_deadline_trap();
            let engine = store.engine().clone();
            let flag = fired.clone();
            std::thread::Builder::new()
                .name("componentize-py-timeout".into())
                .spawn(move || {
                    std::thread::sleep(timeout);
                    flag.store(true, Ordering::SeqCst);
                    engine.increment_epoch();
                })
                .context("starting the timeout thread")?;
        }
        Ok(Watchdog { fired, timeout })
    }

    /// Mark the time as up (when the timeout was noticed elsewhere).
    pub fn expire(&self) {
        self.fired.store(true, Ordering::SeqCst);
    }

    /// Explain `error` if a limit caused it: the timeout fired, or `host`
    /// refused a memory growth.
    pub fn explain(&self, error: anyhow::Error, host: &Host) -> anyhow::Error {
        if let (true, Some(timeout)) = (self.fired.load(Ordering::SeqCst), self.timeout) {
            return error.context(format!(
                "the component ran longer than --timeout {timeout:?} and was stopped"
            ));
        }
        if let Some(refused) = host.memory.refused() {
            let max = host.memory.max.unwrap_or(0);
            return error.context(format!(
                "the component needed more memory than --max-memory {} (it asked for {})",
                human_size(max),
                human_size(refused)
            ));
        }
        if let Some(function) = crate::stub_wasi::stub_trap(&error) {
            return error.context(format!(
                "the component called the WASI function `{function}`, which --stub-wasi \
                 replaced with a trap (printing, clocks, files, randomness and the \
                 environment are unavailable)"
            ));
        }
        error
    }
}

/// A linker with WASI 0.2 defined.
pub fn linker<T: WasiView + 'static>(engine: &Engine) -> Result<Linker<T>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .anyhow()
        .context("adding WASI to the linker")?;
    Ok(linker)
}

/// An engine for the component at `path` (async or not, see [`uses_async`])
/// and the component loaded in it. A precompiled file says nothing about
/// its functions: it is loaded by the sync engine, else by the async one.
pub fn load_any(path: &Path, limits: &Limits) -> Result<(Engine, Component)> {
    load_any_async(path, limits).map(|(engine, component, _)| (engine, component))
}

/// [`load_any`], also saying whether the engine is the async one.
fn load_any_async(path: &Path, limits: &Limits) -> Result<(Engine, Component, bool)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
    if Engine::detect_precompiled(&bytes).is_some() {
        let engine = engine_for(limits, false)?;
        match load(&engine, path) {
            Ok(component) => return Ok((engine, component, false)),
            Err(error) => {
                let engine = engine_for(limits, true)?;
                return match load(&engine, path) {
                    Ok(component) => Ok((engine, component, true)),
                    Err(_) => Err(error),
                };
            }
        }
    }
    let async_ = uses_async(&bytes);
    let engine = engine_for(limits, async_)?;
    let component = load(&engine, path)?;
    Ok((engine, component, async_))
}

/// How many compiled components the on-disk cache keeps.
const DISK_CACHE_ENTRIES: usize = 8;

/// Load a component file: from the on-disk compile cache when this
/// component was compiled before by this Wasmtime with these settings, else
/// compiled by Cranelift (and then cached). A cache problem never fails a
/// run: it only costs the compile.
pub fn load(engine: &Engine, path: &Path) -> Result<Component> {
    load_tagged(engine, path, "run")
}

/// [`load`] with a cache entry of its own per `tag`, for engines whose
/// settings change the compiled code without changing Wasmtime's
/// compatibility hash.
pub fn load_tagged(engine: &Engine, path: &Path, tag: &str) -> Result<Component> {
    let bytes = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
    if let Some(wasmtime::Precompiled::Component) = Engine::detect_precompiled(&bytes) {
        // SAFETY: a file of Wasmtime's serialized form, which only
        // `componentize-py precompile` writes and users pass on purpose;
        // Wasmtime checks its version and settings when loading it.
        return unsafe { Component::deserialize(engine, &bytes) }.anyhow().with_context(|| {
            format!(
                "loading the precompiled `{}` (made by another componentize-py, or for runs with(out) --timeout: precompile it again)",
                path.display()
            )
        });
    }
    let key = crate::preinit::cache_key(engine, tag, &bytes);
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
/// function calls such as `hello("world")`), printing each result in WAVE;
/// under `limits`, whose breach is an error that names the limit, with
/// `capabilities` granted.
pub fn run(
    path: &Path,
    invoke: &[String],
    args: &[String],
    limits: &Limits,
    capabilities: &Capabilities,
) -> Result<()> {
    let (engine, component, async_) = load_any_async(path, limits)?;
    let mut linker = linker(&engine)?;
    // A component of the async ABI may import WASI 0.3 (next to the 0.2
    // its Python stdio uses).
    if async_ {
        crate::run_p3::add_to_linker(&mut linker)?;
    }
    let mut argv = vec![path.display().to_string()];
    argv.extend(args.iter().cloned());
    let mut store = store_granting(&engine, &argv, limits, capabilities)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let watchdog = Watchdog::arm(&mut store, limits.timeout)?;
    let result = runtime.block_on(async {
        let body = run_in(&mut store, &component, &linker, invoke);
        match limits.timeout {
            // The epoch interrupts a computing guest; this stops one that
            // waits on the host (a sleep, a blocking read).
            Some(timeout) => tokio::time::timeout(timeout, body).await.unwrap_or_else(|_| {
                watchdog.expire();
                Err(anyhow!("interrupted while it waited on the host"))
            }),
            None => body.await,
        }
    });
    result.map_err(|error| watchdog.explain(error, store.data()))
}

/// The body of [`run`], in the async runtime.
async fn run_in(
    store: &mut Store<Host>,
    component: &Component,
    linker: &Linker<Host>,
    invoke: &[String],
) -> Result<()> {
    if invoke.is_empty() && crate::run_p3::exports_run(store.engine(), component) {
        return crate::run_p3::run_command(store, component, linker).await;
    }
    if invoke.is_empty() {
        let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut *store, component, linker)
            .await
            .anyhow()
            .context("instantiating the component as a `wasi:cli/command`")?;
        let status = command
            .wasi_cli_run()
            .call_run(&mut *store)
            .await
            .anyhow()
            .context("running the component's `wasi:cli/run`")?;
        if status.is_err() {
            bail!("the component's `wasi:cli/run` returned an error");
        }
        return Ok(());
    }
    let instance = linker
        .instantiate_async(&mut *store, component)
        .await
        .anyhow()
        .context("instantiating the component")?;
    for call in invoke {
        let results = call_wave(&mut *store, component, &instance, call).await?;
        let text: Vec<String> = results
            .iter()
            .map(|v| wasm_wave::to_string(v).map_err(|e| anyhow!("{e}")))
            .collect::<Result<_>>()?;
        if !text.is_empty() {
            println!("{}", text.join(" "));
        }
    }
    Ok(())
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


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert!(parse_size("64X").unwrap_err().contains("unknown size unit"));
        assert!(parse_size("M").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2 days").unwrap_err().contains("unknown duration unit"));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes_print_readably() {
        assert_eq!(human_size(1000), "1000 bytes");
        assert_eq!(human_size(64 << 20), "64 MiB");
        assert_eq!(human_size(3 << 29), "1.5 GiB");
    }
}
