//! Pre-initialisation: run the merged core module's `componentize-py-init`
//! under Wasmtime and snapshot the result with `wasmtime-wizer`, so that the
//! component starts with CPython initialised and the app imported.

use anyhow::{anyhow, Context, Result};
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Duration;
use crate::WasmtimeResultExt;
use wasmtime::{Config, Engine, Linker, OptLevel, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{p1::WasiP1Ctx, FsPerms, WasiCtxBuilder};

/// Guest path of the Python home (the stdlib is under `lib/python3.11`).
const GUEST_PYTHON_HOME: &str = "/python";
/// Guest path of the generated bindings.
const GUEST_BINDINGS: &str = "/bundled";
/// Most output a guest may print during initialisation.
const OUTPUT_CAPACITY: usize = 16 << 20;

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
/// runs once.
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.cranelift_opt_level(OptLevel::None);
    Engine::new(&config).anyhow().context("creating the pre-initialisation engine")
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
        wizer.init_func("componentize-py-init");
        wizer
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(wizer.run(&mut store, inputs.module, async |store, module| {
        let mut linker: Linker<WasiP1Ctx> = Linker::new(store.engine());
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |cx| cx)?;
        // WIT imports may not be called while initialising: they trap.
        linker.define_unknown_imports_as_traps(module)?;
        linker.instantiate_async(store, module).await
    }))
    .anyhow();
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

