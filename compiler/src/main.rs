//! The `componentize-py` command line: upstream-compatible `componentize`
//! and `bindings`, plus `run`; `@FILE` arguments; and, with
//! `--persistent_worker`, a Bazel persistent worker (see `worker.rs`).

mod worker;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use componentize_py::{
    bindings, bundle, capabilities, componentize, compose, precompile, run, serve, toolchain::Toolchain, wit,
};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Compile a Python application and a WIT world into a WebAssembly component.
///
/// Example:
///   componentize-py -d hello.wit -w hello componentize app -p . -o hello.wasm
///   componentize-py run --invoke 'hello("world")' hello.wasm
///
/// An argument `@FILE` is replaced by the lines of FILE, one argument per line
/// (Bazel's multiline params file).
///
/// `componentize-py [OPTIONS] --persistent_worker` serves Bazel work requests
/// (length-delimited protobuf WorkRequest/WorkResponse) on stdin and stdout;
/// the other options given with it are put before every request's arguments.
#[derive(Parser)]
#[command(name = "componentize-py", version, verbatim_doc_comment)]
struct Cli {
    /// WIT file or directory (with its `deps/`); repeatable.
    #[arg(short = 'd', long = "wit-path", global = true)]
    wit_path: Vec<PathBuf>,

    /// World to target (`name` or `namespace:package/name@version`); repeat
    /// to merge several worlds. Optional when the WIT has one world.
    #[arg(short = 'w', long = "world", global = true)]
    world: Vec<String>,

    /// Enable a WIT `@unstable` feature gate; repeatable.
    #[arg(long = "features", global = true, value_delimiter = ',')]
    features: Vec<String>,

    /// Enable every WIT `@unstable` feature gate.
    #[arg(long = "all-features", global = true)]
    all_features: bool,

    /// Toolchain folder (interpreter module and stdlib); defaults to
    /// $COMPONENTIZE_PY_TOOLCHAIN, then `.toolchain/` above this executable.
    #[arg(long, global = true, value_name = "DIR")]
    toolchain: Option<PathBuf>,

    /// Name of the generated Python package (default `wit_world`).
    #[arg(long = "world-module", global = true, value_name = "NAME")]
    world_module: Option<String>,

    /// Python module name for an imported interface, e.g.
    /// `foo:bar/baz@1.0.0=baz` (the Protocol class of an export follows it);
    /// repeatable.
    #[arg(long = "import-interface-name", global = true, value_name = "IFACE=NAME",
          value_parser = parse_key_value)]
    import_interface_name: Vec<(String, String)>,

    /// Python module name for an exported interface; repeatable.
    #[arg(long = "export-interface-name", global = true, value_name = "IFACE=NAME",
          value_parser = parse_key_value)]
    export_interface_name: Vec<(String, String)>,

    /// Qualify every interface module with its namespace and package
    /// (`foo_bar_baz` for `foo:bar/baz`), not only ambiguous ones.
    #[arg(long = "full-names", global = true)]
    full_names: bool,

    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Print the time taken by each step.
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a component from a Python app module.
    Componentize {
        /// The app module, e.g. `app` for `app.py`.
        app: String,
        /// Folder in which to look for the app and its dependencies;
        /// repeatable. Defaults to the current folder.
        #[arg(short = 'p', long = "python-path")]
        python_path: Vec<PathBuf>,
        /// The component file to write.
        #[arg(short, long, default_value = "index.wasm")]
        output: PathBuf,
        /// `MODULE=WORLD`: the world to take from the WIT folder of package
        /// MODULE's `componentize-py.toml` when it holds several;
        /// repeatable.
        #[arg(short = 'm', long = "module-worlds", value_name = "MODULE=WORLD",
              value_parser = parse_module_world)]
        module_worlds: Vec<(String, String)>,
        /// Keep only the imports and exports of the component's world (the
        /// union of `-w`, `-m` and the dependencies' worlds) that WORLD has
        /// too, e.g. a host's world that lacks some of an SDK's imports.
        #[arg(short = 'i', long = "intersect-world", value_name = "WORLD")]
        intersect_world: Option<String>,
        /// Which modules the component carries for imports at run time
        /// (modules imported while building are always in it):
        /// `reachable` adds every module that an `import` statement in the
        /// imported code names, inside functions too, transitively;
        /// `imported` adds none; `all` adds the whole stdlib and every
        /// module in the `-p` folders.
        #[arg(long, value_name = "MODE", default_value = "reachable")]
        bundle: bundle::Mode,
        /// A module or package (with all its submodules) to carry in any
        /// mode, e.g. for `importlib.import_module(name)`; repeatable.
        #[arg(long = "bundle-package", value_name = "NAME")]
        bundle_package: Vec<String>,
        /// Import no WASI interface: every WASI call (print, clocks, files,
        /// random) traps. For sandboxes and hosts without WASI.
        #[arg(short = 's', long = "stub-wasi")]
        stub_wasi: bool,
        /// Stop the build with an error when starting Python and importing
        /// the app take longer than DURATION (e.g. `30s`, `10m`); `none`
        /// for no limit.
        #[arg(long, value_name = "DURATION", default_value = "300s",
              value_parser = parse_import_timeout)]
        import_timeout: ImportTimeout,
    },
    /// Write the Python bindings (package `wit_world`) for the world.
    Bindings {
        /// Folder to write `wit_world/` into.
        output_dir: PathBuf,
    },
    /// Run a component with the embedded Wasmtime: its `wasi:cli/run`, or the
    /// exported functions given with `--invoke`.
    Run {
        /// A call in WAVE syntax, e.g. `hello("world")`; repeatable. The
        /// results are printed in WAVE.
        #[arg(long)]
        invoke: Vec<String>,
        /// Cap each linear memory of the component at SIZE (e.g. `64M`,
        /// `1G`); growing beyond it fails in the guest (Python raises
        /// `MemoryError`).
        #[arg(long, value_name = "SIZE", value_parser = run::parse_size)]
        max_memory: Option<usize>,
        /// With `--max-memory`: a growth beyond the cap stops the component
        /// with an error instead of failing in the guest.
        #[arg(long, requires = "max_memory")]
        trap_on_grow_failure: bool,
        /// Stop the component after DURATION (e.g. `2s`, `500ms`) with an
        /// error; compilation is not counted.
        #[arg(long, value_name = "DURATION", value_parser = run::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Grant the guest the host directory HOST, at GUEST (default: the
        /// same path), read-write; repeatable.
        #[arg(long = "dir", value_name = "HOST[::GUEST]", value_parser = capabilities::parse_dir)]
        dirs: Vec<capabilities::Preopen>,
        /// Set the guest's environment variable NAME to VALUE, or to the
        /// host's value when `=VALUE` is left out; repeatable.
        #[arg(long = "env", value_name = "NAME[=VALUE]", value_parser = capabilities::parse_env)]
        env: Vec<capabilities::EnvVar>,
        /// Allow TCP and UDP (`wasi:sockets`) to and from any address.
        #[arg(long)]
        inherit_network: bool,
        /// Allow host name lookups (`wasi:sockets/ip-name-lookup`).
        #[arg(long)]
        allow_ip_name_lookup: bool,
        /// The component file.
        component: PathBuf,
        /// Arguments passed to the component.
        args: Vec<String>,
    },
    /// Compile a component ahead of time for this host, for `run` (which
    /// then starts without compiling it).
    Precompile {
        /// The component file.
        component: PathBuf,
        /// The precompiled file to write (Wasmtime's serialized form, for
        /// this componentize-py and host only).
        #[arg(short, long)]
        output: PathBuf,
        /// Compile for runs with `--timeout` (the code checks for
        /// interruption).
        #[arg(long)]
        for_timeout: bool,
    },
    /// Compile a toolchain's stdlib to byte code with the toolchain's own
    /// interpreter: a pyc beside each `.py` file of
    /// DIR/runtime/python/lib/python3.11 (in `__pycache__`), which every
    /// later build loads instead of compiling those modules from source.
    /// scripts/setup.sh and the Bazel rule py_wasm_interpreter run it; the
    /// pycs are the same bytes on every machine.
    CompileStdlib {
        /// The toolchain folder (it holds `runtime/interpreter.wasm`).
        dir: PathBuf,
    },
    /// Compile a toolchain's two interpreters ahead of time for this kind
    /// of host (Cranelift) into DIR/runtime/precompiled/: a build whose
    /// compile cache has no interpreter yet loads them instead of compiling
    /// one (about 1 s with Winch for a one-shot build, 4.5 s with Cranelift
    /// for a worker). Hosts with other CPU features, and other builds of
    /// componentize-py, compile as before. scripts/setup.sh runs it, so the
    /// embedded toolchain carries them.
    PrecompileInterpreter {
        /// The toolchain folder (it holds `runtime/interpreter.wasm`).
        dir: PathBuf,
    },
    /// Plug components' exports into another component's imports: each
    /// import of SOCKET (or of a plug) is satisfied by the plug export of the
    /// same name; the result exports what SOCKET exports.
    Compose {
        /// The component whose imports are satisfied.
        socket: PathBuf,
        /// A component whose exports satisfy imports; repeatable.
        #[arg(long = "plug", value_name = "COMPONENT", required = true)]
        plugs: Vec<PathBuf>,
        /// The composed component to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Let imports other than `wasi:` ones stay unsatisfied (imports of
        /// the composed component, for a host that provides them); by default
        /// they are an error.
        #[arg(long)]
        allow_imports: bool,
    },
    /// Serve HTTP with a `wasi:http/proxy` component (its
    /// `wasi:http/incoming-handler`), one instance per request, until
    /// Ctrl-C.
    Serve {
        /// Address to listen on; port 0 picks a free port. The address
        /// actually used is printed.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Stop a request's handler after DURATION (e.g. `5s`) and answer
        /// 500: a runaway handler cannot hold a server thread.
        #[arg(long, value_name = "DURATION", value_parser = run::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Also trust the CA certificates in this PEM file for the guest's
        /// outgoing `https` requests (besides the Mozilla roots built in);
        /// may be given several times.
        #[arg(long, value_name = "FILE")]
        tls_ca_file: Vec<PathBuf>,
        /// The component file.
        component: PathBuf,
    },
}

/// `--import-timeout`: a duration, or `None` for `none`.
#[derive(Clone, Copy, Debug)]
struct ImportTimeout(Option<std::time::Duration>);

fn parse_import_timeout(text: &str) -> Result<ImportTimeout, String> {
    if text == "none" {
        return Ok(ImportTimeout(None));
    }
    run::parse_duration(text).map(|d| ImportTimeout(Some(d)))
}

/// `KEY=VALUE` as a pair.
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() && !value.is_empty() => {
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(format!("expected `<interface>=<name>`, got `{s}`")),
    }
}

/// `MODULE=WORLD` as a pair.
fn parse_module_world(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((module, world)) if !module.is_empty() && !world.is_empty() => {
            Ok((module.to_string(), world.to_string()))
        }
        _ => Err(format!("expected `<module>=<world>`, got `{s}`")),
    }
}

/// Where a command writes its text: the process's stdout and stderr in
/// one-shot mode, the response's `output` in worker mode.
trait Console {
    /// Where results go (what the app printed to stdout while imported).
    fn stdout(&mut self) -> &mut dyn Write;
    /// Where progress lines, the app's stderr and errors go.
    fn stderr(&mut self) -> &mut dyn Write;
    /// Print a command-line error (or `--help` / `--version`).
    fn clap_message(&mut self, error: &clap::Error) {
        let text = error.render().to_string();
        let stream = if error.use_stderr() {
            self.stderr()
        } else {
            self.stdout()
        };
        let _ = stream.write_all(text.as_bytes());
    }
    /// Whether the command may use the process's own stdio (`run` does).
    fn owns_stdio(&self) -> bool {
        true
    }
    /// Called before each long build step; the worker abandons a cancelled
    /// build here.
    fn checkpoint(&mut self) {}
    /// The flag that a worker's cancel sets, for the steps that check it
    /// themselves (pre-initialisation).
    fn cancel_flag(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
        None
    }
}

/// One-shot mode: the process's stdout and stderr.
struct Terminal {
    stdout: std::io::Stdout,
    stderr: std::io::Stderr,
}

impl Console for Terminal {
    fn stdout(&mut self) -> &mut dyn Write {
        &mut self.stdout
    }
    fn stderr(&mut self) -> &mut dyn Write {
        &mut self.stderr
    }
    fn clap_message(&mut self, error: &clap::Error) {
        // Exactly what `Cli::parse()` prints (with colours on a terminal).
        let _ = error.print();
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_else(|| "componentize-py".into());
    let args: Vec<OsString> = args.collect();
    if args.iter().any(|arg| arg == worker::FLAG) {
        let startup = args.into_iter().filter(|arg| arg != worker::FLAG).collect();
        // Many builds: compile the interpreter with Cranelift (faster code).
        componentize_py::preinit::set_long_running(true);
        return worker::serve(program, startup);
    }
    let mut terminal = Terminal {
        stdout: std::io::stdout(),
        stderr: std::io::stderr(),
    };
    let code = run(
        std::iter::once(program).chain(args).collect(),
        None,
        &mut terminal,
    );
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Run one command line (`args[0]` is the program name) and return its exit
/// code: 0, 1 for a failed command, 2 for a command-line error (as clap).
///
/// `@FILE` arguments are expanded first. Relative paths, `@FILE`s included,
/// are taken from `base` when given (a multiplex worker's `sandbox_dir`).
fn run(args: Vec<OsString>, base: Option<&Path>, console: &mut dyn Console) -> i32 {
    let args = match expand_flagfiles(args, base) {
        Ok(args) => args,
        Err(error) => return report(console, &error),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            console.clap_message(&error);
            return error.exit_code();
        }
    };
    match execute(cli, base, console) {
        Ok(()) => 0,
        Err(error) => report(console, &error),
    }
}

/// Print `error` and its causes (never a backtrace, even when
/// RUST_BACKTRACE is set); returns the exit code 1.
fn report(console: &mut dyn Console, error: &anyhow::Error) -> i32 {
    let stderr = console.stderr();
    let _ = writeln!(stderr, "error: {error}");
    for cause in error.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
    1
}

/// Replace each argument `@FILE` after the program name by FILE's lines, one
/// argument per line (not recursively). Relative FILEs are read from `base`.
fn expand_flagfiles(args: Vec<OsString>, base: Option<&Path>) -> Result<Vec<OsString>> {
    let mut expanded = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    expanded.extend(args.next());
    for arg in args {
        let Some(file) = arg.to_str().and_then(|arg| arg.strip_prefix('@')) else {
            expanded.push(arg);
            continue;
        };
        let path = rebase(base, PathBuf::from(file));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the arguments file `{}`", path.display()))?;
        expanded.extend(text.lines().map(OsString::from));
    }
    Ok(expanded)
}

/// `path`, under `base` if it is relative and `base` is given.
fn rebase(base: Option<&Path>, path: PathBuf) -> PathBuf {
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    }
}

/// The `site-packages` folder below `venv/lib` (`lib/python3.X/site-packages`
/// in a venv), found as upstream does: the first one, depth first, in
/// sorted order.
fn venv_site_packages(venv: &Path) -> Result<Option<PathBuf>> {
    fn find(dir: &Path, depth: usize) -> Result<Option<PathBuf>> {
        if dir.file_name().is_some_and(|name| name == "site-packages") {
            return Ok(Some(dir.to_path_buf()));
        }
        if depth == 0 {
            return Ok(None);
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading `{}`", dir.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_dir())
            .collect();
        entries.sort();
        for entry in entries {
            if let Some(found) = find(&entry, depth - 1)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
    let lib = venv.join("lib");
    if !lib.is_dir() {
        return Ok(None);
    }
    // `lib/python3.X/site-packages` is two levels down; a little slack.
    find(&lib, 3)
}

/// Carry out a parsed command line.
fn execute(cli: Cli, base: Option<&Path>, console: &mut dyn Console) -> Result<()> {
    let rebase_all = |paths: Vec<PathBuf>| -> Vec<PathBuf> {
        paths.into_iter().map(|path| rebase(base, path)).collect()
    };
    let wit = wit::WitOptions {
        paths: rebase_all(cli.wit_path),
        worlds: cli.world,
        features: cli.features,
        all_features: cli.all_features,
        library_paths: Vec::new(),
        library_worlds: Vec::new(),
        library_full_names: Vec::new(),
        intersect_world: None,
    };
    let toolchain = cli.toolchain.map(|dir| rebase(base, dir));
    let naming = bindings::Options {
        world_module: cli.world_module,
        import_interface_names: cli.import_interface_name,
        export_interface_names: cli.export_interface_name,
        full_names: cli.full_names,
        full_names_of: Default::default(),
    };
    match cli.command {
        Command::Componentize {
            app,
            python_path,
            output,
            bundle,
            bundle_package,
            stub_wasi,
            module_worlds,
            intersect_world,
            import_timeout,
        } => {
            let toolchain = Toolchain::find(toolchain.as_deref())?;
            let mut python_path = rebase_all(if python_path.is_empty() {
                vec![PathBuf::from(".")]
            } else {
                python_path
            });
            // As upstream: a venv's site-packages goes on the path. Only in
            // one-shot mode: a worker's builds see declared inputs only.
            if console.owns_stdio() {
                if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
                    match venv_site_packages(Path::new(&venv))? {
                        Some(site) => python_path.push(site),
                        None if !cli.quiet => writeln!(
                            console.stderr(),
                            "warning: site-packages directory not found under {}",
                            Path::new(&venv).join("lib").display()
                        )?,
                        None => {}
                    }
                }
            }
            let wit = wit::WitOptions { intersect_world, ..wit };
            let request = componentize::Request {
                wit,
                app,
                python_path,
                output: rebase(base, output),
                bindings: naming,
                bundle: bundle::Options { mode: bundle, packages: bundle_package },
                stub_wasi,
                module_worlds,
            };
            let limits = componentize_py::limits::Limits {
                import_timeout: import_timeout.0,
                cancel: console.cancel_flag(),
            };
            // Upstream's console: one line on success (stdout), nothing
            // with -q; our step lines and times with -v.
            let verbose = cli.verbose && !cli.quiet;
            let mut progress = |step: &str| {
                console.checkpoint();
                if verbose {
                    let _ = writeln!(console.stderr(), "componentize-py: {step}");
                }
            };
            let report = componentize::componentize_with(&toolchain, &request, &limits, &mut progress)?;
            console.stdout().write_all(&report.guest_stdout)?;
            console.stderr().write_all(&report.guest_stderr)?;
            if verbose {
                let stderr = console.stderr();
                for (step, secs) in &report.steps {
                    writeln!(stderr, "componentize-py: {step:<16} {secs:8.3} s")?;
                }
                writeln!(stderr, "componentize-py: wrote {}", request.output.display())?;
            }
            // Upstream's success line, on the command line only: a worker's
            // response output is for warnings and errors (Bazel shows it).
            if !cli.quiet && console.owns_stdio() {
                writeln!(console.stdout(), "Component built successfully")?;
            }
            Ok(())
        }
        Command::Bindings { output_dir } => {
            let (resolve, world) = wit::resolve(&wit)?;
            let (_, metadata) = wit_dylib::create_with_metadata(&resolve, world, None)
                .context("computing the bindings metadata")?;
            let mut files = bindings::generate_with(&resolve, world, &metadata, &naming)?;
            // Beside the package, as upstream: the wrappers its modules
            // import, and for type checkers the runtime's builtin module.
            files.push(bindings::types_module_file());
            files.extend(bindings::async_support_files(&resolve, world));
            files.push((
                "componentize_py_runtime.pyi".to_string(),
                bindings::RUNTIME_STUB_PYI.to_string(),
            ));
            // And a plain-Python stand-in, so that the package imports outside
            // a component (its imports raise NotImplementedError when called).
            files.push((
                "componentize_py_runtime.py".to_string(),
                bindings::RUNTIME_STUB_PY.to_string(),
            ));
            files.sort();
            componentize::write_files(&rebase(base, output_dir), &files)
        }
        Command::Run {
            invoke,
            max_memory,
            trap_on_grow_failure,
            timeout,
            dirs,
            env,
            inherit_network,
            allow_ip_name_lookup,
            component,
            args,
        } => {
            if !console.owns_stdio() {
                bail!("`run` is not available in worker mode: the component would use the worker's stdio");
            }
            let limits = run::Limits {
                max_memory,
                trap_on_grow_failure,
                timeout,
            };
            let capabilities = capabilities::Capabilities {
                dirs: dirs
                    .into_iter()
                    .map(|dir| capabilities::Preopen { host: rebase(base, dir.host), ..dir })
                    .collect(),
                env,
                inherit_network,
                allow_ip_name_lookup,
            };
            run::run(&rebase(base, component), &invoke, &args, &limits, &capabilities)
        }
        Command::Precompile { component, output, for_timeout } => {
            precompile::precompile(&rebase(base, component), &rebase(base, output), for_timeout)
        }
        Command::CompileStdlib { dir } => {
            let dir = rebase(base, dir);
            let summary = componentize_py::stdlib_pycs::compile_stdlib(&dir, &Default::default())
                .with_context(|| format!("compiling the stdlib of the toolchain at `{}`", dir.display()))?;
            writeln!(
                console.stderr(),
                "componentize-py: compiled {} stdlib sources ({} bytes of byte code) in {:.1} s",
                summary.files, summary.bytes, summary.seconds
            )
            .context("writing to stderr")?;
            Ok(())
        }
        Command::PrecompileInterpreter { dir } => {
            let dir = rebase(base, dir);
            let paths = componentize_py::preinit::precompile_interpreter(&dir)
                .with_context(|| format!("precompiling the interpreters of the toolchain at `{}`", dir.display()))?;
            for path in paths {
                writeln!(console.stderr(), "componentize-py: wrote {}", path.display()).context("writing to stderr")?;
            }
            Ok(())
        }
        Command::Compose { socket, plugs, output, allow_imports } => compose::compose(
            &rebase(base, socket),
            &rebase_all(plugs),
            &rebase(base, output),
            compose::Options { allow_imports },
        ),
        Command::Serve { addr, timeout, tls_ca_file, component } => {
            if !console.owns_stdio() {
                bail!("`serve` is not available in worker mode");
            }
            let tls_ca_files: Vec<PathBuf> = tls_ca_file.into_iter().map(|file| rebase(base, file)).collect();
            serve::serve(&rebase(base, component), addr, timeout, &tls_ca_files)
        }
    }
}
