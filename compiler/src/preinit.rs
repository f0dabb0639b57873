//! Pre-initialisation: run the merged core module's `componentize-py-init`
//! under Wasmtime and snapshot the result with `wasmtime-wizer`, so that the
//! component starts with CPython initialised and the app imported.

use anyhow::{anyhow, bail, ensure, Context, Result};
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use crate::WasmtimeResultExt;
use wasmtime::{Config, Engine, Instance, Linker, Module, OptLevel, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{p1::WasiP1Ctx, FsPerms, WasiCtxBuilder};

/// Guest path of the Python home (the stdlib is under `lib/python3.11`).
const GUEST_PYTHON_HOME: &str = "/python";
/// The stdlib's folder below the Python home.
pub(crate) const STDLIB_SUBDIR: &str = "lib/python3.11";
/// Guest path of the generated bindings.
const GUEST_BINDINGS: &str = "/bundled";
/// Most output a guest may print during initialisation.
const OUTPUT_CAPACITY: usize = 16 << 20;
/// The pre-initialisation entry point.
const INIT_FUNC: &str = "componentize-py-init";
/// The interpreter's import that runs the bindings library's initialisers.
const BINDINGS_INIT: (&str, &str) = ("componentize-py", "bindings-init");

/// Everything the initialisation run needs.
pub struct Inputs<'a> {
    /// The merged core module (interpreter + bindings library) that the
    /// snapshot is made of, `merge::merge_snapshot_template`'s, and its
    /// placement: made on demand, since in [`Mode::Linked`] only the
    /// snapshot needs it (it is then made on a thread of its own while the
    /// initialisation runs).
    pub module: &'a MergedModule<'a>,
    /// Its parts, for [`Mode::Linked`].
    pub link: Option<Link<'a>>,
    /// Host folder mounted at `/python` (holds `lib/python3.11`).
    pub python_home: &'a Path,
    /// The toolchain's folder of precompiled interpreters
    /// ([`PRECOMPILED_SUBDIR`]), if it has one.
    pub precompiled: Option<&'a Path>,
    /// Host folder that holds the generated `wit_world` package.
    pub bindings: &'a Path,
    /// The user's `-p` folders, in order.
    pub python_path: &'a [PathBuf],
    /// The app module name.
    pub app: &'a str,
    /// The generated package, whose `_registry` the runtime imports.
    pub world_module: &'a str,
    /// More host folders and their guest paths (inside a `-p` folder's,
    /// which they shadow): the bindings where a dependency wants them.
    pub mounts: &'a [(PathBuf, String)],
    /// Which modules to keep for imports at run time.
    pub bundle: &'a crate::bundle::Options,
    /// A file name left out of directory listings during initialisation: the
    /// output file, which may sit in a `-p` folder and would otherwise make
    /// a rebuild see a different folder than the first build did.
    pub hidden_name: Option<&'a str>,
    /// `--stub-wasi`: the component will have no WASI, so the runtime must
    /// not refresh environment, arguments and randomness at the first call
    /// (each would trap); it forgets the build's instead.
    pub stub_wasi: bool,
    /// When the initialisation run is stopped: time limit and cancel flag.
    pub limits: &'a crate::limits::Limits,
    /// What the byte code of the app's sources depends on besides the
    /// sources: the interpreter (see `crate::bytecode`).
    pub code_identity: crate::memo::Key,
}

/// Makes (or finds) the merged module and its placement.
pub type MergedModule<'a> = dyn Fn() -> Result<Arc<(Vec<u8>, crate::merge::Placement)>> + Sync + 'a;

/// The merged module's parts and where the merge placed the library.
#[derive(Clone, Copy)]
pub struct Link<'a> {
    /// The interpreter module (the toolchain's `interpreter.wasm`).
    pub interpreter: &'a [u8],
    /// The bindings library (`wit_dylib::create`'s output).
    pub library: &'a [u8],
    /// What [`crate::merge::merge_with_placement`] returned.
    pub placement: crate::merge::Placement,
}

/// What initialisation produced: the snapshot and what the guest printed.
pub struct Snapshot {
    /// The pre-initialised core module.
    pub module: Vec<u8>,
    /// Guest stdout during initialisation.
    pub stdout: Vec<u8>,
    /// Guest stderr during initialisation.
    pub stderr: Vec<u8>,
    /// Time per sub-step, for `--verbose`.
    pub steps: Vec<(String, f64)>,
}

/// A fixed clock: initialisation must not depend on the time of the build.
struct FixedClock;

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(1_700_000_000)
    }
}

impl wasmtime_wasi::HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        0
    }
}

/// FNV-1a, 64 bits: the hash `runtime/preinit_fs.c` compares names with.
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Which compiler makes the machine code that the initialisation run
/// executes. The snapshot is the same with either: it holds the Wasm state,
/// not code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compiler {
    /// Cranelift without optimisation: about 3.5 times Winch's compile time
    /// for the interpreter, but its code runs CPython's start-up and the
    /// app's import about 1.5 times as fast.
    Cranelift,
    /// Winch, Wasmtime's single-pass baseline compiler.
    Winch,
}

impl Compiler {
    fn tag(self) -> &'static str {
        match self {
            Compiler::Cranelift => "cranelift",
            Compiler::Winch => "winch",
        }
    }
}

/// The settings of [`engine_for`]`(compiler)`.
fn config_for(compiler: Compiler) -> Config {
    let mut config = Config::new();
    match compiler {
        // The code runs once: no optimisation.
        Compiler::Cranelift => config.cranelift_opt_level(OptLevel::None),
        Compiler::Winch => config.strategy(wasmtime::Strategy::Winch),
    };
    // The import time limit and cancels stop the guest at its next epoch
    // check (`crate::limits`).
    config.epoch_interruption(true);
    // Core modules only: no component model concurrency.
    config.concurrency_support(false);
    config
}

/// The engine for initialisation runs with `compiler`. One engine per
/// compiler and process (a clone shares it), so that the in-memory cache of
/// compiled modules serves a worker's later builds.
pub fn engine_for(compiler: Compiler) -> Result<Engine> {
    static CRANELIFT: OnceLock<Engine> = OnceLock::new();
    static WINCH: OnceLock<Engine> = OnceLock::new();
    let cell = match compiler {
        Compiler::Cranelift => &CRANELIFT,
        Compiler::Winch => &WINCH,
    };
    if let Some(engine) = cell.get() {
        return Ok(engine.clone());
    }
    let engine = Engine::new(&config_for(compiler))
        .anyhow()
        .context("creating the pre-initialisation engine")?;
    let mut created = false;
    let engine = cell
        .get_or_init(|| {
            created = true;
            engine
        })
        .clone();
    if created {
        crate::limits::tick(&engine)?;
    }
    Ok(engine)
}

/// Whether this process serves many builds (a persistent worker): then the
/// interpreter is compiled with Cranelift, whose faster code pays back over
/// the later builds; a one-shot build compiles it with Winch (see
/// [`choose_compiler`]).
static LONG_RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tell pre-initialisation that this process will serve many builds.
pub fn set_long_running(long_running: bool) {
    LONG_RUNNING.store(long_running, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`set_long_running`] said this process serves many builds.
pub(crate) fn long_running() -> bool {
    LONG_RUNNING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Environment variable that forces the compiler of the initialisation
/// run: `cranelift` or `winch`.
pub const COMPILER_ENV: &str = "COMPONENTIZE_PY_PREINIT_COMPILER";

/// How many compiled modules the process keeps (one per WIT world built).
const MEMORY_CACHE_ENTRIES: usize = 4;
/// How many compiled modules the on-disk cache keeps.
const DISK_CACHE_ENTRIES: usize = 8;

/// Compiled instrumented modules of this process, most recent last.
static MODULES: Mutex<Vec<([u8; 32], Module)>> = Mutex::new(Vec::new());

/// The folder of the on-disk compile cache: `$COMPONENTIZE_PY_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/componentize-py`, else `~/.cache/componentize-py`;
/// `None` when `COMPONENTIZE_PY_NO_CACHE` is set or no folder is known.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    if std::env::var_os("COMPONENTIZE_PY_NO_CACHE").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = nonempty("COMPONENTIZE_PY_CACHE_DIR") {
        return Some(dir);
    }
    let base = nonempty("XDG_CACHE_HOME").or_else(|| nonempty("HOME").map(|h| h.join(".cache")))?;
    Some(base.join("componentize-py"))
}

/// The cache key of `wasm` compiled by `engine`: SHA-256 over the engine's
/// compatibility hash (Wasmtime version, target, settings), a tag and the
/// bytes.
pub(crate) fn cache_key(engine: &Engine, tag: &str, wasm: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let mut sha = sha2::Sha256::new();
    sha.update(hasher.finish().to_le_bytes());
    sha.update(tag.as_bytes());
    sha.update([0]);
    sha.update(wasm);
    sha.finalize().into()
}

fn hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache file for `key` with extension `ext`, if there is a cache dir.
pub(crate) fn cache_file(key: &[u8; 32], ext: &str) -> Option<PathBuf> {
    Some(cache_dir()?.join(format!("{}.{ext}", hex(key))))
}

/// Environment variable capping the on-disk cache's total size, e.g.
/// `512M`, `2G` (see [`cache_max_bytes`]).
pub const CACHE_MAX_SIZE_ENV: &str = "COMPONENTIZE_PY_CACHE_MAX_SIZE";

/// The on-disk cache's default size cap: the interpreter's code (about
/// 30 MB per compiler) and a few components' (15-40 MB each).
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 512 << 20;

/// The on-disk cache's size cap in bytes: `$COMPONENTIZE_PY_CACHE_MAX_SIZE`
/// (a size such as `300M`; `0` keeps nothing), else
/// [`DEFAULT_CACHE_MAX_BYTES`]. A value that does not parse is ignored.
pub fn cache_max_bytes() -> u64 {
    match std::env::var(CACHE_MAX_SIZE_ENV) {
        Ok(value) if value.trim() == "0" => 0,
        Ok(value) if !value.is_empty() => crate::run::parse_size(&value)
            .map_or(DEFAULT_CACHE_MAX_BYTES, |n| n as u64),
        _ => DEFAULT_CACHE_MAX_BYTES,
    }
}

/// Store `bytes` at `path` atomically and keep at most `keep` files with
/// `path`'s extension in its folder, and at most [`cache_max_bytes`] in
/// all cache files of the folder (least recently used go first; a file is
/// used when it is written or loaded, see [`cache_touch`]). Errors are
/// ignored: the cache is an optimisation only.
pub(crate) fn cache_store(path: &Path, bytes: &[u8], keep: usize) {
    let Some(dir) = path.parent() else { return };
    let max_bytes = cache_max_bytes();
    if bytes.len() as u64 > max_bytes {
        return;
    }
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    if write().is_err() {
        return;
    }
    evict(dir, path, keep, max_bytes);
}

/// The cache files in `dir` (named `<64 hex digits>.<ext>`), least recently
/// used first: (modification time, size, path).
fn cache_entries(dir: &Path) -> Vec<(std::time::SystemTime, u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.split_once('.').is_some_and(|(stem, _)| {
                stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit())
            })
        })
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            meta.is_file().then(|| (meta.modified().ok(), meta.len(), entry.path()))
        })
        .filter_map(|(time, len, path)| Some((time?, len, path)))
        .collect();
    files.sort();
    files
}

/// Remove the least recently used cache files of `dir` until at most
/// `keep` have `newest`'s extension and all together take at most
/// `max_bytes`; `newest` (just written) stays.
fn evict(dir: &Path, newest: &Path, keep: usize, max_bytes: u64) {
    let files = cache_entries(dir);
    let ext = newest.extension();
    let mut same_ext = files.iter().filter(|(_, _, p)| p.extension() == ext).count();
    let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
    for (_, len, old) in &files {
        if same_ext <= keep && total <= max_bytes {
            break;
        }
        if old == newest {
            continue;
        }
        let over_count = same_ext > keep && old.extension() == ext;
        if (over_count || total > max_bytes) && std::fs::remove_file(old).is_ok() {
            total -= len;
            if old.extension() == ext {
                same_ext -= 1;
            }
        }
    }
}

/// Mark a cache file as just used (its modification time orders eviction).
pub(crate) fn cache_touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// A compiled module from the in-memory cache (a worker's earlier build)
/// or, when `disk`, the on-disk cache (an earlier process's).
fn cached_module(engine: &Engine, key: &[u8; 32], disk: bool) -> Option<Module> {
    {
        let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = modules.iter().position(|(k, _)| k == key) {
            let entry = modules.remove(at);
            let module = entry.1.clone();
            modules.push(entry);
            return Some(module);
        }
    }
    let path = if disk { cache_file(key, "cwasm") } else { None }?;
    // SAFETY: the file was written by `Module::serialize` of this program
    // into the user's own cache folder, atomically; Wasmtime checks its
    // version and settings when loading it.
    let module = unsafe { Module::deserialize_file(engine, &path) }.ok()?;
    cache_touch(&path);
    remember(key, &module);
    Some(module)
}

/// Keep `module` in the in-memory cache.
fn remember(key: &[u8; 32], module: &Module) {
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    if !modules.iter().any(|(k, _)| k == key) {
        if modules.len() >= MEMORY_CACHE_ENTRIES {
            modules.remove(0);
        }
        modules.push((*key, module.clone()));
    }
}

/// Compile `wasm` and keep the result in the in-memory cache and, when
/// `disk`, in the on-disk cache. Cache errors are ignored.
fn compile_and_cache(engine: &Engine, key: &[u8; 32], wasm: &[u8], disk: bool) -> Result<Module> {
    let module = Module::new(engine, wasm)
        .anyhow()
        .context("failed to compile the Wasm module")?;
    if let Some(path) = if disk { cache_file(key, "cwasm") } else { None } {
        if let Ok(bytes) = module.serialize() {
            cache_store(&path, &bytes, DISK_CACHE_ENTRIES);
        }
    }
    remember(key, &module);
    Ok(module)
}

/// The compiled interpreter for a [`Mode::Linked`] run and the engine that
/// compiled it, plus how it was obtained (for `--verbose`).
///
/// The interpreter's code depends on the toolchain only, so one compile
/// serves every WIT world and app. Preference: code Cranelift compiled
/// earlier (memory, then disk), else the toolchain's precompiled Cranelift
/// code (`precompiled`, see [`precompile_interpreter`]), else code Winch
/// compiled earlier, else a new compile: with Cranelift in a long-running process (a worker), with
/// Winch in a one-shot build (Winch compiles about 3.5 times as fast, which
/// matters more than its slower code for one build). `$COMPONENTIZE_PY_PREINIT_COMPILER`
/// forces one compiler for both lookup and compile.
fn interpreter_module(interpreter: &[u8], precompiled: Option<&Path>) -> Result<(Engine, Module, String)> {
    let forced = match std::env::var(COMPILER_ENV) {
        Ok(value) if value == "cranelift" => Some(Compiler::Cranelift),
        Ok(value) if value == "winch" => Some(Compiler::Winch),
        Ok(value) if !value.is_empty() => {
            bail!("${COMPILER_ENV} must be `cranelift` or `winch`, not `{value}`")
        }
        _ => None,
    };
    let long_running = LONG_RUNNING.load(std::sync::atomic::Ordering::Relaxed);
    let preferred: &[Compiler] = match forced {
        Some(Compiler::Cranelift) => &[Compiler::Cranelift],
        Some(Compiler::Winch) => &[Compiler::Winch],
        None if long_running => &[Compiler::Cranelift],
        None => &[Compiler::Cranelift, Compiler::Winch],
    };
    let digest = interpreter_digest(interpreter);
    let key = |engine: &Engine, compiler: Compiler| interpreter_key(engine, compiler, &digest);
    for &compiler in preferred {
        let engine = engine_for(compiler)?;
        let key = key(&engine, compiler);
        if let Some(module) = cached_module(&engine, &key, true) {
            return Ok((engine, module, format!("cached, {}", compiler.tag())));
        }
        if let Some(module) = precompiled.and_then(|folder| shipped_module(&engine, &key, folder)) {
            return Ok((engine, module, format!("precompiled, {}", compiler.tag())));
        }
    }
    let compiler = forced.unwrap_or(if long_running {
        Compiler::Cranelift
    } else {
        Compiler::Winch
    });
    let engine = engine_for(compiler)?;
    let (_, instrumented) = wasmtime_wizer::Wizer::new().instrument(interpreter).anyhow()?;
    let module = compile_and_cache(&engine, &key(&engine, compiler), &instrumented, true)?;
    Ok((engine, module, format!("compiled, {}", compiler.tag())))
}

/// The compiled bindings library for a [`Mode::Linked`] run: compiled per
/// world, kept in memory only. What runs is the library without the code
/// that the run cannot reach (`crate::init_library`; keyed by the library
/// itself, as it depends on nothing else).
fn library_module(engine: &Engine, library: &[u8]) -> Result<Module> {
    let key = cache_key(engine, "preinit-library-reachable", library);
    match cached_module(engine, &key, false) {
        Some(module) => Ok(module),
        None => {
            let reachable = crate::init_library::for_initialisation(library, &LIBRARY_INIT_CALLS)?;
            compile_and_cache(engine, &key, &reachable, false)
        }
    }
}

/// The folder below a toolchain's `runtime/` that holds its interpreter
/// compiled ahead of time (`<cache key>.cwasm`, see [`precompile_interpreter`]).
pub const PRECOMPILED_SUBDIR: &str = "precompiled";

fn interpreter_digest(interpreter: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(interpreter).into()
}

/// The cache key of the interpreter whose SHA-256 is `digest`, compiled by
/// `compiler`'s `engine`.
fn interpreter_key(engine: &Engine, compiler: Compiler, digest: &[u8; 32]) -> [u8; 32] {
    cache_key(engine, &format!("preinit-interpreter-{}", compiler.tag()), digest)
}

/// The interpreter's code from the toolchain's `folder` of precompiled
/// interpreters, when it holds the file of `key` (made by this compiler for
/// this kind of host: the key covers Wasmtime's version, settings and the
/// host's CPU features) and the on-disk cache is on; a file that does not
/// load is passed over.
fn shipped_module(engine: &Engine, key: &[u8; 32], folder: &Path) -> Option<Module> {
    cache_dir()?;
    let path = folder.join(format!("{}.cwasm", hex(key)));
    if !path.is_file() {
        return None;
    }
    // SAFETY: the file is part of the toolchain, written by
    // `precompile_interpreter` (`Module::serialize` of this program, for
    // this key); Wasmtime checks its version and settings when loading it.
    let module = unsafe { Module::deserialize_file(engine, &path) }.ok()?;
    remember(key, &module);
    Some(module)
}

/// Compile the interpreters of the toolchain at `dir` (the folder that
/// holds `runtime/`: `interpreter.wasm` and `interpreter-async.wasm`) ahead
/// of time for this kind of host, with Cranelift as a worker would, into
/// `runtime/precompiled/<cache key>.cwasm`, replacing that folder's files:
/// a build (one-shot or worker) whose compile cache has no interpreter yet
/// loads it instead of compiling it (about 1 s with Winch, 4.5 s with
/// Cranelift on two cores), and a one-shot build then runs Cranelift's
/// code, which is faster than the Winch code it would have compiled.
/// Returns the files written. Hosts of another kind (other CPU features) or
/// another build of the compiler have other keys and compile as before.
pub fn precompile_interpreter(dir: &Path) -> Result<Vec<PathBuf>> {
    let toolchain = crate::toolchain::Toolchain::from_dir(dir)?;
    let engine = engine_for(Compiler::Cranelift)?;
    // Compiled once, ahead of time, so with Cranelift's optimisations: the
    // code runs a build's start-up, byte-code pre-pass and import faster.
    // Wasmtime loads it into the unoptimising engine of the builds (the
    // optimisation level is not among the settings a module must share
    // with its engine; the key is that engine's).
    let mut config = config_for(Compiler::Cranelift);
    config.cranelift_opt_level(OptLevel::Speed);
    let optimising = Engine::new(&config).anyhow().context("creating the precompiling engine")?;
    // Both compiled first, then the folder replaced: a failure leaves the
    // old files.
    let mut compiled = Vec::new();
    for path in [&toolchain.interpreter, &toolchain.interpreter_async] {
        let interpreter = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
        let key = interpreter_key(&engine, Compiler::Cranelift, &interpreter_digest(&interpreter));
        let (_, instrumented) = wasmtime_wizer::Wizer::new().instrument(&interpreter).anyhow()?;
        let module = Module::new(&optimising, &instrumented)
            .anyhow()
            .with_context(|| format!("failed to compile `{}`", path.display()))?;
        let bytes = module.serialize().anyhow().context("serialising the compiled interpreter")?;
        compiled.push((key, bytes));
    }
    let folder = &toolchain.precompiled;
    if folder.exists() {
        std::fs::remove_dir_all(folder).with_context(|| format!("removing `{}`", folder.display()))?;
    }
    std::fs::create_dir_all(folder).with_context(|| format!("creating `{}`", folder.display()))?;
    let mut written = Vec::new();
    for (key, bytes) in compiled {
        let path = folder.join(format!("{}.cwasm", hex(&key)));
        crate::componentize::write_atomically(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// Store data of the initialisation run.
struct Host {
    wasi: WasiP1Ctx,
    /// The bindings library's instance, once instantiated.
    library: Option<Instance>,
}

/// Export of the interpreter (runtime/init.c) that names the modules whose
/// bodies were running when the initialisation run stopped.
const IMPORTING_FUNC: &str = "componentize-py-importing";

/// The modules being imported when the run stopped, innermost first
/// (`slow, pkg, app`), read from the guest: empty when it cannot tell.
async fn modules_being_imported(store: &mut Store<Host>, instance: Instance) -> String {
    let read = async {
        let func = instance
            .get_typed_func::<(), i32>(&mut *store, IMPORTING_FUNC)
            .ok()?;
        let memory = instance.get_memory(&mut *store, "memory")?;
        // The guest stopped at a limit: let the short walk of its frames
        // run to its end.
        store.set_epoch_deadline(u64::MAX / 2);
        let address = func.call_async(&mut *store, ()).await.ok()?;
        let data = memory.data(&*store);
        let start = usize::try_from(address).ok()?;
        let text = data.get(start..)?;
        let end = text.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&text[..end]).into_owned())
    };
    read.await.unwrap_or_default()
}

/// A WASI context builder for a build-time run: output captured in
/// `stdout` and `stderr`, seeded randomness and fixed clocks, so that the
/// run (and its snapshot) does not depend on when or where it happens.
fn deterministic_wasi(stdout: &MemoryOutputPipe, stderr: &MemoryOutputPipe) -> WasiCtxBuilder {
    let mut wasi = WasiCtxBuilder::new();
    wasi.allow_blocking_current_thread(true)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .secure_random(rand::rngs::StdRng::seed_from_u64(0))
        .insecure_random(rand::rngs::StdRng::seed_from_u64(1))
        .insecure_random_seed(0)
        .wall_clock(FixedClock)
        .monotonic_clock(FixedClock);
    wasi
}

/// The WASI context of the initialisation run: preopens, environment, a
/// fixed clock and seeded randomness.
fn wasi_context(
    inputs: &Inputs<'_>,
    stdout: &MemoryOutputPipe,
    stderr: &MemoryOutputPipe,
) -> Result<WasiP1Ctx> {
    let mut guest_path = vec![GUEST_BINDINGS.to_string()];
    let mut wasi = deterministic_wasi(stdout, stderr);
    let preopen = |wasi: &mut WasiCtxBuilder, host: &Path, guest: &str| -> Result<()> {
        wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
            .anyhow()
            .with_context(|| format!("opening `{}`", host.display()))?;
        Ok(())
    };
    preopen(&mut wasi, inputs.python_home, GUEST_PYTHON_HOME)?;
    preopen(&mut wasi, inputs.bindings, GUEST_BINDINGS)?;
    for (i, dir) in inputs.python_path.iter().enumerate() {
        let guest = format!("/app/{i}");
        preopen(&mut wasi, dir, &guest)?;
        guest_path.push(guest);
    }
    for (host, guest) in inputs.mounts {
        preopen(&mut wasi, host, guest)?;
    }
    for (key, value) in inputs.bundle.env() {
        wasi.env(key, value);
    }
    wasi.env("COMPONENTIZE_PY_APP", inputs.app)
        .env("COMPONENTIZE_PY_WORLD_MODULE", inputs.world_module)
        .env("COMPONENTIZE_PY_PATH", guest_path.join(":"))
        // A fixed-length hash, so the name's length leaves no trace either.
        .env(
            "COMPONENTIZE_PY_HIDE",
            format!("{:016x}", fnv1a(inputs.hidden_name.unwrap_or(""))),
        )
        .arg("python");
    if inputs.stub_wasi {
        wasi.env("COMPONENTIZE_PY_STUB_WASI", "1");
    }
    Ok(wasi.build_p1())
}

/// Call `_initialize` (if exported) and then `componentize-py-init`.
async fn run_init(store: &mut Store<Host>, instance: Instance) -> Result<()> {
    for name in ["_initialize", INIT_FUNC] {
        if let Some(func) = instance.get_func(&mut *store, name) {
            func.typed::<(), ()>(&*store)
                .anyhow()?
                .call_async(&mut *store, ())
                .await
                .map_err(|error| match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    Some(exit) => anyhow::Error::new(crate::limits::Exited(exit.0)),
                    None => anyhow::Error::from(error),
                })
                .with_context(|| format!("the `{name}` function trapped"))?;
        } else if name == INIT_FUNC {
            bail!("the module does not export `{INIT_FUNC}`");
        }
    }
    Ok(())
}

/// How the initialisation run executes the merged module's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Link the interpreter and the bindings library at run time (two
    /// instances sharing memory, table and stack pointer, placed as the
    /// merge placed them). The interpreter's compiled code depends on the
    /// toolchain only, so it is compiled once and cached for every world;
    /// only the small library is compiled per world. The default.
    Linked,
    /// Run the merged module itself (compiled and cached per world). Kept as
    /// the reference that [`Mode::Linked`] is tested against.
    Merged,
}

/// Run `componentize-py-init` and snapshot memory and globals.
///
/// Wizer instruments and snapshots the merged module (`inputs.module`); the
/// code that runs is, by default ([`Mode::Linked`]), the interpreter and the
/// bindings library linked at run time: the same Wasm semantics, so the same
/// memory and globals, hence the same snapshot bytes, but the interpreter
/// is compiled once per toolchain instead of once per WIT world.
pub fn preinitialize(inputs: &Inputs<'_>) -> Result<Snapshot> {
    preinitialize_with(inputs, Mode::Linked)
}

/// [`preinitialize`] with an explicit [`Mode`].
pub fn preinitialize_with(inputs: &Inputs<'_>, mode: Mode) -> Result<Snapshot> {
    let mut steps = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &str| {
        steps.push((format!("  {name}"), clock.elapsed().as_secs_f64()));
        clock = std::time::Instant::now();
    };

    let wizer = {
        let mut wizer = wasmtime_wizer::Wizer::new();
        wizer.init_func(INIT_FUNC);
        wizer
    };
    // The merged module, and wizer's instrument pass over it (validation,
    // parsing, rewriting): in linked mode only the snapshot needs them, so
    // with more than one thread they are made beside the initialisation
    // run. The snapshot is the same either way.
    let merged = OnceLock::new();
    let (make_module, link) = (inputs.module, inputs.link);
    let prepare = || -> Result<_> {
        let module = make_module()?;
        let module = merged.get_or_init(|| module);
        if let Some(link) = link {
            ensure!(
                module.1 == link.placement,
                "internal error: the merge placed the bindings library at {:?}, not at {:?}",
                module.1,
                link.placement
            );
        }
        wizer.instrument(&module.0).anyhow()
    };
    let beside = matches!(mode, Mode::Linked) && rayon::current_num_threads() > 1;
    // The app's sources, when a byte-code pre-pass will compile them.
    let sources = prepass_sources(inputs);
    let (module, stdout, stderr) = std::thread::scope(|scope| -> Result<_> {
        // The snapshot's module context: made here, or on `thread` and
        // waited for before the snapshot. That thread starts now, or after
        // the pre-pass when there is one (which keeps every core busy; the
        // initialisation run that follows keeps one).
        let (mut thread, mut context) = (None, None);
        if !beside {
            context = Some(prepare()?.0);
            lap("merge and instrument");
        } else if sources.is_none() {
            thread = Some(scope.spawn(prepare));
        }
        // Compile (or find in a cache) what runs.
        let (engine, modules) = match mode {
            Mode::Merged => {
                let engine = engine_for(Compiler::Cranelift)?;
                // The snapshot template cannot run the initialisation: run
                // the plain merged module.
                let link = inputs.link.as_ref().context("merged pre-initialisation needs the interpreter and the bindings library")?;
                let merged = crate::merge::merge(link.interpreter, link.library)?;
                let instrumented = wizer.instrument(&merged).anyhow()?.1;
                let key = cache_key(&engine, "preinit-merged", &instrumented);
                let module = match cached_module(&engine, &key, false) {
                    Some(module) => module,
                    None => compile_and_cache(&engine, &key, &instrumented, false)?,
                };
                lap("compile merged module");
                (engine, Modules::Merged(module))
            }
            Mode::Linked => {
                let link = inputs.link.as_ref().context(
                    "linked pre-initialisation needs the interpreter and the bindings library",
                )?;
                let (engine, interpreter, how) = interpreter_module(link.interpreter, inputs.precompiled)?;
                lap(&format!("interpreter ({how})"));
                let library = library_module(&engine, link.library)?;
                lap("compile library");
                (engine, Modules::Linked { interpreter, library, placement: link.placement })
            }
        };

        // The app's sources compiled to byte code outside this run
        // (`crate::bytecode`), mounted where the import looks for it.
        let prepared = match sources {
            Some((roots, sources)) => Some(byte_code_prepass(&engine, &modules, inputs, &roots, sources)?),
            None => None,
        };
        if beside && thread.is_none() {
            thread = Some(scope.spawn(prepare));
        }
        let mut mounts = inputs.mounts.to_vec();
        // The toolchain's stdlib byte code, where the import looks for it.
        mounts.extend(stdlib_byte_code(inputs.python_home)?);
        if let Some(prepared) = &prepared {
            mounts.extend(prepared.mounts.iter().cloned());
            lap(&format!(
                "byte code ({} sources compiled, {} reused)",
                prepared.compiled, prepared.reused
            ));
        }

        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = wasi_context(&Inputs { mounts: &mounts, ..*inputs }, &stdout, &stderr)?;
        let mut store = Store::new(&engine, Host { wasi, library: None });
        let stop = inputs.limits.arm(&mut store);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .context("starting the async runtime")?;
        // `Wizer::run`, with the compile step above.
        let initialised = runtime.block_on(async {
            let instance = instantiate(&engine, &mut store, &modules).await?;
            lap("instantiate");
            if let Err(error) = run_init(&mut store, instance).await {
                let reason = stop.reason(&error);
                let modules = match reason {
                    Some(_) => modules_being_imported(&mut store, instance).await,
                    None => String::new(),
                };
                return Err(match reason {
                    Some(reason) => reason.error(inputs.limits, inputs.app, &modules, error),
                    None => error,
                });
            }
            lap("run init");
            Ok(instance)
        });
        let result = match initialised {
            Ok(instance) => {
                if let Some(thread) = thread {
                    // A panic of the thread goes on here.
                    let prepared = thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    context = Some(prepared?.0);
                    lap("merge and instrument (made beside, waited for)");
                }
                let cx = context.as_ref().expect("made before the run or waited for above");
                let snapshot = runtime.block_on(
                    wizer.snapshot(cx, &mut wasmtime_wizer::WasmtimeWizer { store: &mut store, instance }),
                );
                lap("snapshot");
                snapshot.anyhow()
            }
            Err(error) => Err(error),
        };
        drop(store);
        let stdout = stdout.contents().to_vec();
        let stderr = stderr.contents().to_vec();
        match result {
            Ok(module) => Ok((module, stdout, stderr)),
            // A limit, a cancel or an exit: the sentence says it all, then
            // what the app printed before.
            Err(error) if error.is::<crate::limits::Stopped>() => {
                let mut stopped = error
                    .downcast::<crate::limits::Stopped>()
                    .expect("checked by `is`");
                stopped.output = String::from_utf8_lossy(&stderr).trim_end().to_string();
                Err(stopped.into())
            }
            Err(error) => {
                let guest = String::from_utf8_lossy(&stderr);
                let guest = guest.trim_end();
                if guest.is_empty() {
                    Err(anyhow!("{error:?}")).context("initialising the Python app failed")
                } else {
                    Err(anyhow!("{guest}")).context("initialising the Python app failed")
                }
            }
        }
    })?;
    Ok(Snapshot { module, stdout, stderr, steps })
}

/// The `__pycache__` folders of the stdlib below `python_home` (host folder,
/// guest path), in guest-path order, to mount where they are: the
/// runtime hides `__pycache__` folders from the import except for mounts
/// (`runtime/preinit_fs.c`), and the toolchain's are made by its own
/// interpreter (`crate::stdlib_pycs`), so they are part of the toolchain
/// like the sources. A toolchain without them compiles the stdlib from
/// source, as before.
pub(crate) fn stdlib_byte_code(python_home: &Path) -> Result<Vec<(PathBuf, String)>> {
    fn walk(host: &Path, guest: &str, found: &mut Vec<(PathBuf, String)>) -> Result<()> {
        let entries = std::fs::read_dir(host).with_context(|| format!("listing `{}`", host.display()))?;
        let mut dirs = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("listing `{}`", host.display()))?;
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                if let Ok(name) = entry.file_name().into_string() {
                    dirs.push(name);
                }
            }
        }
        dirs.sort();
        for name in dirs {
            let (host, guest) = (host.join(&name), format!("{guest}/{name}"));
            if name == "__pycache__" {
                found.push((host, guest));
            } else {
                walk(&host, &guest, found)?;
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(
        &python_home.join(STDLIB_SUBDIR),
        &format!("{GUEST_PYTHON_HOME}/{STDLIB_SUBDIR}"),
        &mut found,
    )?;
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// Instantiate what runs.
async fn instantiate(engine: &Engine, store: &mut Store<Host>, modules: &Modules) -> Result<Instance> {
    match modules {
        Modules::Merged(module) => {
            let mut linker: Linker<Host> = Linker::new(engine);
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, |h: &mut Host| &mut h.wasi).anyhow()?;
            // WIT imports may not be called while initialising: they trap.
            linker.define_unknown_imports_as_traps(module).anyhow()?;
            linker.instantiate_async(&mut *store, module).await.anyhow()
        }
        Modules::Linked { interpreter, library, placement } => {
            instantiate_linked(engine, store, interpreter, library, *placement).await
        }
    }
}

/// The folders the import may load the app's sources from (host folder,
/// guest path) and those sources, not read yet: `None` when there are too
/// few for a byte-code pre-pass to pay off ([`crate::bytecode::worth_it`]).
fn prepass_sources(inputs: &Inputs<'_>) -> Option<(Vec<(PathBuf, String)>, Vec<crate::bytecode::Source>)> {
    let mut roots = vec![(inputs.bindings.to_path_buf(), GUEST_BINDINGS.to_string())];
    for (i, dir) in inputs.python_path.iter().enumerate() {
        roots.push((dir.clone(), format!("/app/{i}")));
    }
    roots.extend(inputs.mounts.iter().cloned());
    let sources = crate::bytecode::sources(&roots);
    crate::bytecode::worth_it(&sources).then_some((roots, sources))
}

/// `crate::bytecode`: compile the listed `sources` below `roots` that were
/// not compiled before in pre-pass instances (on rayon's pool), each an
/// instance of what runs the initialisation whose `componentize-py-init`
/// imports `bytecode.py` as its registry and exits.
fn byte_code_prepass(
    engine: &Engine,
    modules: &Modules,
    inputs: &Inputs<'_>,
    roots: &[(PathBuf, String)],
    mut sources: Vec<crate::bytecode::Source>,
) -> Result<crate::bytecode::Prepared> {
    crate::bytecode::read(&mut sources)?;
    let compile = |paths: &[&str]| {
        prepass_instance(engine, modules, inputs.python_home, roots, inputs.limits, inputs.app, paths)
    };
    crate::bytecode::prepare(&inputs.code_identity, &sources, compile)
}

/// One pre-pass instance: `bytecode.py` compiles the sources at the guest
/// `paths` (below `/python` or one of `roots`, host folder and guest path)
/// and exits; the pyc of each, `None` for one that does not compile. `what`
/// names what is compiled in a time-limit error.
fn prepass_instance(
    engine: &Engine,
    modules: &Modules,
    python_home: &Path,
    roots: &[(PathBuf, String)],
    limits: &crate::limits::Limits,
    what: &str,
    paths: &[&str],
) -> Result<Vec<Option<Vec<u8>>>> {
    let dir = crate::bytecode::instance_folder(paths)?;
    let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
    let mut wasi = deterministic_wasi(&stderr, &stderr);
    let preopen = |wasi: &mut WasiCtxBuilder, host: &Path, guest: &str, perms: FsPerms| -> Result<()> {
        wasi.preopened_dir(host, guest, perms)
            .anyhow()
            .with_context(|| format!("opening `{}`", host.display()))?;
        Ok(())
    };
    preopen(&mut wasi, python_home, GUEST_PYTHON_HOME, FsPerms::ReadOnly)?;
    for (host, guest) in roots {
        preopen(&mut wasi, host, guest, FsPerms::ReadOnly)?;
    }
    preopen(&mut wasi, dir.path(), crate::bytecode::GUEST_DIR, FsPerms::ReadWrite)?;
    wasi.env("COMPONENTIZE_PY_APP", "-")
        .env("COMPONENTIZE_PY_WORLD_MODULE", crate::bytecode::PACKAGE)
        .env("COMPONENTIZE_PY_PATH", crate::bytecode::GUEST_DIR)
        .arg("python");
    let mut store = Store::new(engine, Host { wasi: wasi.build_p1(), library: None });
    let stop = limits.arm(&mut store);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let instance = instantiate(engine, &mut store, modules).await?;
        run_init(&mut store, instance).await
    });
    drop(store);
    match result {
        Err(error) => match stop.reason(&error) {
            // `bytecode.py` ends with `os._exit(0)`.
            Some(crate::limits::Reason::Exited(0)) => {
                crate::bytecode::instance_results(dir.path(), paths.len())
            }
            Some(reason @ (crate::limits::Reason::TimedOut | crate::limits::Reason::Cancelled)) => {
                Err(reason.error(limits, what, "", error))
            }
            _ => {
                let guest = String::from_utf8_lossy(&stderr.contents()).trim_end().to_string();
                Err(anyhow!("{error:?}\n{guest}")).context("compiling Python sources to byte code failed")
            }
        },
        Ok(()) => bail!("the byte-code pre-pass returned instead of exiting"),
    }
}

/// Compile the sources at the guest `paths` below `/python` (the Python
/// home `python_home`) to pycs in pre-pass instances of the interpreter of
/// `link`, one per rayon thread at most; the pyc of each, `None` for one
/// that does not compile (`crate::stdlib_pycs`).
pub(crate) fn compile_python_home(
    link: &Link<'_>,
    python_home: &Path,
    paths: &[String],
    limits: &crate::limits::Limits,
) -> Result<Vec<Option<Vec<u8>>>> {
    let (engine, interpreter, _) = interpreter_module(link.interpreter, None)?;
    let library = library_module(&engine, link.library)?;
    let modules = Modules::Linked { interpreter, library, placement: link.placement };
    let instances = rayon::current_num_threads().min(paths.len()).max(1);
    let per_instance = paths.len().div_ceil(instances).max(1);
    let chunks: Vec<Vec<&str>> =
        paths.chunks(per_instance).map(|chunk| chunk.iter().map(String::as_str).collect()).collect();
    let results: Vec<Vec<Option<Vec<u8>>>> = {
        use rayon::prelude::*;
        chunks
            .par_iter()
            .map(|chunk| prepass_instance(&engine, &modules, python_home, &[], limits, "the stdlib", chunk))
            .collect::<Result<_>>()?
    };
    Ok(results.into_iter().flatten().collect())
}

/// What runs: the merged module, or the interpreter and the library.
#[derive(Clone)]
enum Modules {
    Merged(Module),
    Linked {
        interpreter: Module,
        library: Module,
        placement: crate::merge::Placement,
    },
}

/// Library exports that the merged module's `bindings-init` calls, in order.
const LIBRARY_INIT_CALLS: [&str; 2] = ["__wasm_apply_data_relocs", "__wasm_call_ctors"];

/// [`Mode::Linked`]: instantiate the interpreter (instrumented by wizer, so
/// that it exports its globals and memory under the names wizer reads, which
/// are the merged module's: the merge keeps the interpreter's globals and
/// memory at their indices), grow its table by the library's elements, and
/// instantiate the library against it with `__memory_base` and
/// `__table_base` where the merge put them. The interpreter's import
/// `componentize-py`.`bindings-init` runs what the merged module's
/// synthesized function runs.
async fn instantiate_linked(
    engine: &Engine,
    store: &mut Store<Host>,
    interpreter: &Module,
    library: &Module,
    placement: crate::merge::Placement,
) -> Result<Instance> {
    let mut linker: Linker<Host> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |h: &mut Host| &mut h.wasi).anyhow()?;
    linker
        .func_wrap_async(
            BINDINGS_INIT.0,
            BINDINGS_INIT.1,
            |mut caller: wasmtime::Caller<'_, Host>, (): ()| {
                Box::new(async move {
                    let library = caller
                        .data()
                        .library
                        .ok_or_else(|| wasmtime::Error::msg("the bindings library is not instantiated"))?;
                    for name in LIBRARY_INIT_CALLS {
                        if let Some(func) = library.get_func(&mut caller, name) {
                            func.typed::<(), ()>(&caller)?.call_async(&mut caller, ()).await?;
                        }
                    }
                    Ok(())
                })
            },
        )
        .anyhow()?;
    // The async interpreter's canonical built-ins (`$root`.`[waitable-set-new]`
    // and friends) may not be called while initialising either.
    linker.define_unknown_imports_as_traps(interpreter).anyhow()?;
    let interp = linker.instantiate_async(&mut *store, interpreter).await.anyhow()?;

    let table = interp
        .get_table(&mut *store, "__indirect_function_table")
        .context("the interpreter does not export `__indirect_function_table`")?;
    let size = table.size(&*store);
    ensure!(
        size == u64::from(placement.table_base) && placement.table_size >= size,
        "the interpreter's table does not have the size the merge assumed"
    );
    table
        .grow(&mut *store, placement.table_size - size, wasmtime::Ref::Func(None))
        .anyhow()
        .context("growing the interpreter's table for the bindings library")?;

    let mut linker: Linker<Host> = Linker::new(engine);
    linker.instance(&mut *store, "env", interp).anyhow()?;
    for (name, value) in [
        ("__memory_base", placement.memory_base),
        ("__table_base", placement.table_base),
    ] {
        let ty = wasmtime::GlobalType::new(wasmtime::ValType::I32, wasmtime::Mutability::Const);
        let global = wasmtime::Global::new(&mut *store, ty, wasmtime::Val::I32(value as i32)).anyhow()?;
        linker.define(&mut *store, "env", name, global).anyhow()?;
    }
    // WIT imports may not be called while initialising: they trap.
    linker.define_unknown_imports_as_traps(library).anyhow()?;
    let lib = linker.instantiate_async(&mut *store, library).await.anyhow()?;
    store.data_mut().library = Some(lib);
    Ok(interp)
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    /// A cache file of `len` bytes last used `age` seconds ago.
    fn entry(dir: &Path, n: u8, ext: &str, len: usize, age: u64) -> PathBuf {
        let path = dir.join(format!("{}.{ext}", hex(&[n; 32])));
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let file = std::fs::File::options().append(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age)).unwrap();
        path
    }

    #[test]
    fn eviction_keeps_the_size_cap_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let oldest = entry(dir.path(), 1, "cwasm", 400, 30);
        let old = entry(dir.path(), 2, "cwasm-component", 300, 20);
        let recent = entry(dir.path(), 3, "cwasm", 200, 10);
        let newest = entry(dir.path(), 4, "cwasm-component", 250, 0);
        // Not cache files: never touched.
        std::fs::write(dir.path().join("notes.txt"), vec![0u8; 5000]).unwrap();
        evict(dir.path(), &newest, 8, 600);
        assert!(!oldest.exists() && !old.exists(), "the two least recently used go");
        assert!(recent.exists() && newest.exists());
        assert!(dir.path().join("notes.txt").exists());
    }

    #[test]
    fn eviction_keeps_the_count_per_kind_and_the_newest_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = entry(dir.path(), 1, "cwasm", 10, 30);
        let b = entry(dir.path(), 2, "cwasm", 10, 20);
        let other = entry(dir.path(), 3, "cwasm-component", 10, 40);
        let c = entry(dir.path(), 4, "cwasm", 10, 0);
        evict(dir.path(), &c, 2, 1 << 30);
        assert!(!a.exists() && b.exists() && c.exists() && other.exists());
        // Even a file over the cap on its own stays once written.
        evict(dir.path(), &c, 8, 1);
        assert!(c.exists() && !b.exists() && !other.exists());
    }
}
