//! The whole build: WIT + Python app -> component file.

use crate::{bindings, bundle, config, merge, preinit, stub_wasi, toolchain::Toolchain, wit};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wit_component::{ComponentEncoder, StringEncoding};

/// A componentize request, as given on the command line or by the worker.
#[derive(Clone, Debug)]
pub struct Request {
    /// WIT paths, worlds and features.
    pub wit: wit::WitOptions,
    /// The app module name (`app` for `app.py`, dots for submodules).
    pub app: String,
    /// Folders searched for the app and its dependencies (`-p`).
    pub python_path: Vec<PathBuf>,
    /// The component file to write.
    pub output: PathBuf,
    /// How the generated Python modules are named.
    pub bindings: bindings::Options,
    /// Which modules the component carries for imports at run time.
    pub bundle: bundle::Options,
    /// `--stub-wasi`: import no WASI interface; every WASI call traps.
    pub stub_wasi: bool,
    /// `-m MODULE=WORLD`: which world of a dependency's WIT folder to use
    /// (see [`config::apply`]).
    pub module_worlds: Vec<(String, String)>,
}

/// Bindings library and generated Python files of recent worlds.
static BINDINGS: crate::memo::Memo<(Vec<u8>, Vec<(String, String)>)> = crate::memo::Memo::new(8);
/// Merged snapshot templates (about 10 MB each) of recent worlds.
static MERGED: crate::memo::Memo<(Vec<u8>, merge::Placement)> = crate::memo::Memo::new(2);

/// What a successful build reports besides the output file.
#[derive(Debug, Default)]
pub struct Report {
    /// What the app printed to stdout while being imported.
    pub guest_stdout: Vec<u8>,
    /// What the app printed to stderr while being imported.
    pub guest_stderr: Vec<u8>,
    /// Time and size per step, for `--verbose`.
    pub steps: Vec<(String, f64)>,
}

/// Build the component for `request` with `toolchain` and write it
/// atomically: on error no output file is left behind.
///
/// `progress` receives a line before each long step. The app's import has
/// the default time limit ([`crate::limits::DEFAULT_IMPORT_TIMEOUT`]).
pub fn componentize(
    toolchain: &Toolchain,
    request: &Request,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    componentize_with(toolchain, request, &crate::limits::Limits::default(), progress)
}

/// [`componentize`] under `limits`: a time limit for the app's import and a
/// cancel flag, both honoured inside pre-initialisation too.
pub fn componentize_with(
    toolchain: &Toolchain,
    request: &Request,
    limits: &crate::limits::Limits,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let mut report = Report::default();
    let mut clock = Instant::now();
    let mut lap = |report: &mut Report, name: &str| {
        report.steps.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };

    progress("resolving WIT");
    let libraries = config::discover(&request.python_path)?;
    let (wit_options, mut naming, bindings_mount) =
        config::apply(&libraries, &request.wit, &request.bindings, &request.module_worlds)?;
    let (resolve, world, full_names_of) = wit::resolve_with_names(&wit_options)?;
    naming.full_names_of = full_names_of;
    check_app_exists(&request.app, &request.python_path)?;
    request.bundle.check()?;
    lap(&mut report, "resolve WIT");

    progress("generating bindings");
    // Both depend on the world and the naming only: kept for a worker's
    // later builds (`crate::memo`).
    let world_key = crate::memo::key(&[
        format!("{resolve:?}").as_bytes(),
        &world.index().to_le_bytes(),
        format!("{naming:?}").as_bytes(),
    ]);
    let generated = BINDINGS.get_or_try(world_key, || -> Result<_> {
        let (dylib, metadata) = wit_dylib::create_with_metadata(&resolve, world, None)
            .context("generating the bindings library")?;
        let files = bindings::generate_with(&resolve, world, &metadata, &naming)?;
        Ok((dylib, files))
    })?;
    let (dylib, files) = (&generated.0, &generated.1);
    let temp_dir = || {
        tempfile::Builder::new()
            .prefix("componentize-py-")
            .tempdir()
            .context("creating a temporary folder")
    };
    let bundled = temp_dir()?;
    let uses_async = crate::wit::uses_async(&resolve, world);
    let mut support =
        vec![(bundle::MODULE_FILE.to_string(), bundle::SOURCE.to_string()), bindings::types_module_file()];
    support.extend(bindings::async_support_files(&resolve, world));
    write_files(bundled.path(), &support)?;
    // The bindings go on the path; each folder where a dependency's
    // componentize-py.toml wants them (`config::BindingsMount`) gets a tree
    // of modules re-exporting the package's. Those folders live as long as
    // `_library_bindings`.
    let mut mounts = Vec::new();
    let mut _library_bindings = Vec::new();
    let mut mount = |files: &[(String, String)], at: &config::BindingsMount| -> Result<()> {
        let dir = temp_dir()?;
        write_files(dir.path(), files)?;
        let guest = std::iter::once(format!("/app/{}", at.python_path_index))
            .chain(at.folder.iter().map(|part| part.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join("/");
        mounts.push((dir.path().join(&at.folder), guest));
        _library_bindings.push(dir);
        Ok(())
    };
    write_files(bundled.path(), &with_before_import(files, naming.package())?)?;
    for at in &bindings_mount {
        mount(&bindings::alias_package(&files, naming.package(), &at.package), at)?;
    }
    lap(&mut report, "bindings");

    // A world with async functions needs the interpreter that has the async
    // ABI (and imports its built-ins); every other world gets the same
    // interpreter, hence the same bytes, as before async support existed.
    let interpreter_path =
        if uses_async { &toolchain.interpreter_async } else { &toolchain.interpreter };
    let interpreter = std::fs::read(interpreter_path).with_context(|| {
        format!(
            "reading `{}`{}",
            interpreter_path.display(),
            if uses_async { " (the async interpreter, needed by worlds with async functions)" } else { "" }
        )
    })?;
    // What the component will hold: the merged module without start-up
    // code and twins (see `merge::merge_snapshot_template`), made by
    // pre-initialisation when it needs it (beside the run, with threads).
    // Depends on the interpreter and the library only: kept as above.
    // Running the interpreter and the library needs only where the merge
    // puts the library.
    let merge_key = crate::memo::key(&[&interpreter, dylib]);
    let placement = match MERGED.get(&merge_key) {
        Some(merged) => merged.1,
        None => merge::placement(&interpreter, dylib)?,
    };
    let merged = || MERGED.get_or_try(merge_key, || merge::merge_snapshot_template(&interpreter, dylib));
    lap(&mut report, "placement");

    progress("initialising Python and importing the app");
    let hidden_name = request.output.file_name().and_then(|name| name.to_str());
    // Debugging aid: `merged` runs the merged module itself (the reference
    // the default, linked run is tested against; same output bytes).
    let mode = match std::env::var("COMPONENTIZE_PY_PREINIT_MODE").as_deref() {
        Ok("merged") => preinit::Mode::Merged,
        _ => preinit::Mode::Linked,
    };
    let snapshot = preinit::preinitialize_with(
        &preinit::Inputs {
            module: &merged,
            link: Some(preinit::Link {
                interpreter: &interpreter,
                library: dylib,
                placement,
            }),
            python_home: &toolchain.python_home,
            precompiled: Some(&toolchain.precompiled),
            bindings: bundled.path(),
            python_path: &request.python_path,
            app: &request.app,
            world_module: naming.package(),
            mounts: &mounts,
            bundle: &request.bundle,
            hidden_name,
            stub_wasi: request.stub_wasi,
            limits,
            // The pycs depend on the interpreter; this key covers it (and
            // the library, which they do not depend on).
            code_identity: merge_key,
        },
        mode,
    )?;
    report.guest_stdout = snapshot.stdout;
    report.guest_stderr = snapshot.stderr;
    lap(&mut report, "pre-initialise");
    report.steps.extend(snapshot.steps);

    progress("encoding the component");
    let mut module = snapshot.module;
    // Debugging aid: keep the pre-initialised core module.
    if let Some(path) = std::env::var_os("COMPONENTIZE_PY_DUMP_CORE") {
        std::fs::write(&path, &module).context("writing $COMPONENTIZE_PY_DUMP_CORE")?;
    }
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        StringEncoding::UTF8,
        false,
    )
        .context("embedding the world's component type")?;
    let mut encoder = ComponentEncoder::default();
    // Validated below, with the function bodies in parallel.
    encoder.validate(false);
    encoder.module(&module).context("reading the core module")?;
    if request.stub_wasi {
        let stubs = stub_wasi::stub_adapter(&module)?;
        encoder
            .adapter(stub_wasi::WASI_PREVIEW1, &stubs)
            .context("adding the trapping WASI stubs (--stub-wasi)")?;
    } else {
        encoder
            .adapter(
                stub_wasi::WASI_PREVIEW1,
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
            .context("adding the WASI preview1 adapter")?;
    }
    let component = encoder.encode().context("encoding the component")?;
    // What `encoder.validate(true)` checks (all features), in parallel.
    crate::validate::validate(&component, wasmparser::WasmFeatures::all())
        .context("failed to validate component output")?;
    lap(&mut report, "componentize");

    write_atomically(&request.output, &component)?;
    Ok(report)
}

/// Fail early, without starting Python, when the app module is nowhere on
/// the Python path.
fn check_app_exists(app: &str, python_path: &[PathBuf]) -> Result<()> {
    if app.is_empty() || app.split('.').any(|part| part.is_empty()) {
        bail!("`{app}` is not a Python module name");
    }
    let relative: PathBuf = app.split('.').collect();
    for dir in python_path {
        if !dir.is_dir() {
            bail!("python path entry `{}` is not a directory", dir.display());
        }
        let module = dir.join(&relative);
        if module.with_extension("py").is_file() || module.join("__init__.py").is_file() {
            return Ok(());
        }
    }
    let searched: Vec<String> = python_path.iter().map(|p| format!("`{}`", p.display())).collect();
    bail!(
        "app module `{app}` not found on the python path ({})",
        searched.join(", ")
    )
}

/// What the registry of the bindings package `package` does last, when
/// the runtime imports it before the app (`before_import` in `bundle.py`):
/// from then on, the app's sources are compiled with deferred annotations,
/// as upstream's CPython 3.14 leaves annotations unevaluated, and
/// `dataclasses` compiles each distinct generated method once.
const BEFORE_IMPORT: &str = "\n# Added by the compiler: what runs before the app is imported.\n\
    import _componentize_py_bundle\n\
    _componentize_py_bundle.before_import()\n";

/// `files` (the generated bindings of package `package`) with
/// [`BEFORE_IMPORT`] at the end of the registry: only in the component,
/// not in what `bindings` writes.
fn with_before_import(files: &[(String, String)], package: &str) -> Result<Vec<(String, String)>> {
    let registry = format!("{}/_registry.py", package.replace('.', "/"));
    if !files.iter().any(|(path, _)| *path == registry) {
        bail!("the generated bindings have no `{registry}`");
    }
    Ok(files
        .iter()
        .map(|(path, contents)| {
            if *path == registry {
                (path.clone(), format!("{contents}{BEFORE_IMPORT}"))
            } else {
                (path.clone(), contents.clone())
            }
        })
        .collect())
}

/// Write generated files under `dir`.
pub fn write_files(dir: &Path, files: &[(String, String)]) -> Result<()> {
    for (path, contents) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating `{}`", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(())
}

/// Write `bytes` to `path` through a temporary file in the same folder and a
/// rename, so readers never see a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in `{}`", dir.display()))?;
    std::io::Write::write_all(&mut file, bytes)
        .with_context(|| format!("writing `{}`", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Temporary files are private; the output is an ordinary file.
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting permissions of `{}`", path.display()))?;
    }
    file.persist(path)
        .with_context(|| format!("writing `{}`", path.display()))?;
    Ok(())
}
