//! Pre-initialisation: run the merged core module's `componentize-py-init`
//! under Wasmtime and snapshot the result with `wasmtime-wizer`, so that the
//! component starts with CPython initialised and the app imported.

use anyhow::{anyhow, bail, Context, Result};
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;
use crate::WasmtimeResultExt;
use wasmtime::{Config, Engine, Linker, Module, OptLevel, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{p1::WasiP1Ctx, FsPerms, WasiCtxBuilder};

/// Guest path of the Python home (the stdlib is under `lib/python3.11`).
const GUEST_PYTHON_HOME: &str = "/python";
/// Guest path of the generated bindings.
const GUEST_BINDINGS: &str = "/bundled";
/// Most output a guest may print during initialisation.
const OUTPUT_CAPACITY: usize = 16 << 20;
/// The pre-initialisation entry point.
const INIT_FUNC: &str = "componentize-py-init";

/// Everything the initialisation run needs.
pub struct Inputs<'a> {
    /// The merged core module (interpreter + bindings library).
    pub module: &'a [u8],
    /// Host folder mounted at `/python` (holds `lib/python3.11`).
    pub python_home: &'a Path,
    /// Host folder that holds the generated `wit_world` package.
    pub bindings: &'a Path,
    /// The user's `-p` folders, in order.
    pub python_path: &'a [PathBuf],
    /// The app module name.
    pub app: &'a str,
    /// The generated package, whose `_registry` the runtime imports.
    pub world_module: &'a str,
    /// A file name left out of directory listings during initialisation: the
    /// output file, which may sit in a `-p` folder and would otherwise make
    /// a rebuild see a different folder than the first build did.
    pub hidden_name: Option<&'a str>,
}

/// What initialisation produced: the snapshot and what the guest printed.
pub struct Snapshot {
    /// The pre-initialised core module.
    pub module: Vec<u8>,
    /// Guest stdout during initialisation.
    pub stdout: Vec<u8>,
    /// Guest stderr during initialisation.
    pub stderr: Vec<u8>,
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

/// The engine used for initialisation runs: no optimisation, since the code
/// runs once. One engine per process (a clone shares it), so that the
/// in-memory cache of compiled modules serves a worker's later builds.
pub fn engine() -> Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let mut config = Config::new();
    config.cranelift_opt_level(OptLevel::None);
    let engine = Engine::new(&config)
        .anyhow()
        .context("creating the pre-initialisation engine")?;
    Ok(ENGINE.get_or_init(|| engine).clone())
}

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

/// Store `bytes` at `path` atomically and keep at most `keep` files with
/// `path`'s extension in its folder (least recently used go first). Errors
/// are ignored: the cache is an optimisation only.
pub(crate) fn cache_store(path: &Path, bytes: &[u8], keep: usize) {
    let Some(dir) = path.parent() else { return };
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
    let ext = path.extension().map(|e| e.to_owned());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|p| p.extension().map(|e| e.to_owned()) == ext)
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    if files.len() > keep {
        files.sort();
        for (_, old) in &files[..files.len() - keep] {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// Mark a cache file as just used (its modification time orders eviction).
pub(crate) fn cache_touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Compile the instrumented module, or take it from the in-memory cache
/// (a worker's earlier build of the same WIT world) or the on-disk cache (an
/// earlier process's). The merged module depends on the WIT world only, not
/// on the app, so every rebuild of a world hits. A cache never changes the
/// snapshot: compiled code only runs the same Wasm.
fn compile_cached(engine: &Engine, wasm: &[u8]) -> Result<Module> {
    let key = cache_key(engine, "preinit", wasm);
    let lock = || MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    {
        let mut modules = lock();
        if let Some(at) = modules.iter().position(|(k, _)| *k == key) {
            let entry = modules.remove(at);
            let module = entry.1.clone();
            modules.push(entry);
            return Ok(module);
        }
    }
    let file = cache_file(&key, "cwasm");
    let cached = file.as_deref().and_then(|path| {
        // SAFETY: the file was written by `Module::serialize` of this
        // program into the user's own cache folder, atomically; Wasmtime
        // checks its version and settings when loading it.
        let module = unsafe { Module::deserialize_file(engine, path) }.ok()?;
        cache_touch(path);
        Some(module)
    });
    let module = match cached {
        Some(module) => module,
        None => {
            let module = Module::new(engine, wasm)
                .anyhow()
                .context("failed to compile the Wasm module")?;
            if let Some(path) = &file {
                if let Ok(bytes) = module.serialize() {
                    cache_store(path, &bytes, DISK_CACHE_ENTRIES);
                }
            }
            module
        }
    };
    let mut modules = lock();
    if !modules.iter().any(|(k, _)| *k == key) {
        if modules.len() >= MEMORY_CACHE_ENTRIES {
            modules.remove(0);
        }
        modules.push((key, module.clone()));
    }
    Ok(module)
}

/// Run `componentize-py-init` and snapshot memory and globals.
pub fn preinitialize(engine: &Engine, inputs: &Inputs<'_>) -> Result<Snapshot> {
    let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
    let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);

    let mut guest_path = vec![GUEST_BINDINGS.to_string()];
    let mut wasi = WasiCtxBuilder::new();
    wasi.allow_blocking_current_thread(true)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .secure_random(rand::rngs::StdRng::seed_from_u64(0))
        .insecure_random(rand::rngs::StdRng::seed_from_u64(1))
        .insecure_random_seed(0)
        .wall_clock(FixedClock)
        .monotonic_clock(FixedClock);
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
    wasi.env("COMPONENTIZE_PY_APP", inputs.app)
        .env("COMPONENTIZE_PY_WORLD_MODULE", inputs.world_module)
        .env("COMPONENTIZE_PY_PATH", guest_path.join(":"))
        // A fixed-length hash, so the name's length leaves no trace either.
        .env(
            "COMPONENTIZE_PY_HIDE",
            format!("{:016x}", fnv1a(inputs.hidden_name.unwrap_or(""))),
        )
        .arg("python");
    let mut store = Store::new(engine, wasi.build_p1());

    let wizer = {
        let mut wizer = wasmtime_wizer::Wizer::new();
        wizer.init_func(INIT_FUNC);
        wizer
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the async runtime")?;
    // `Wizer::run`, with the compile step cached.
    let result = runtime.block_on(async {
        let (cx, instrumented) = wizer.instrument(inputs.module).anyhow()?;
        let module = compile_cached(engine, &instrumented)?;
        let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |cx| cx).anyhow()?;
        // WIT imports may not be called while initialising: they trap.
        linker.define_unknown_imports_as_traps(&module).anyhow()?;
        let instance = linker.instantiate_async(&mut store, &module).await.anyhow()?;
        for name in ["_initialize", INIT_FUNC] {
            if let Some(func) = instance.get_func(&mut store, name) {
                func.typed::<(), ()>(&store)
                    .anyhow()?
                    .call_async(&mut store, ())
                    .await
                    .anyhow()
                    .with_context(|| format!("the `{name}` function trapped"))?;
            } else if name == INIT_FUNC {
                bail!("the module does not export `{INIT_FUNC}`");
            }
        }
        wizer
            .snapshot(&cx, &mut wasmtime_wizer::WasmtimeWizer { store: &mut store, instance })
            .await
            .anyhow()
    });
    drop(store);
    let stdout = stdout.contents().to_vec();
    let stderr = stderr.contents().to_vec();
    match result {
        Ok(module) => Ok(Snapshot {
            module,
            stdout,
            stderr,
        }),
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
}

