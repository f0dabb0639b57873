//! The `componentize-py` command line: upstream-compatible `componentize`
//! and `bindings`, plus `run`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use componentize_py::{bindings, componentize, run, toolchain::Toolchain, wit};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Compile a Python application and a WIT world into a WebAssembly component.
///
/// Example:
///   componentize-py -d hello.wit -w hello componentize app -p . -o hello.wasm
///   componentize-py run --invoke 'hello("world")' hello.wasm
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
        #[arg(short, long)]
        output: PathBuf,
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
        /// The component file.
        component: PathBuf,
        /// Arguments passed to the component.
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The cause chain, without a backtrace even when RUST_BACKTRACE is set.
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> Result<()> {
    let wit = wit::WitOptions {
        paths: cli.wit_path,
        worlds: cli.world,
        features: cli.features,
        all_features: cli.all_features,
    };
    match cli.command {
        Command::Componentize {
            app,
            python_path,
            output,
        } => {
            let toolchain = Toolchain::find(cli.toolchain.as_deref())?;
            let python_path = if python_path.is_empty() {
                vec![PathBuf::from(".")]
            } else {
                python_path
            };
            let request = componentize::Request {
                wit,
                app,
                python_path,
                output,
            };
            let quiet = cli.quiet;
            let mut progress = |step: &str| {
                if !quiet {
                    eprintln!("componentize-py: {step}");
                }
            };
            let report = componentize::componentize(&toolchain, &request, &mut progress)?;
            std::io::stdout().write_all(&report.guest_stdout)?;
            std::io::stderr().write_all(&report.guest_stderr)?;
            if cli.verbose {
                for (step, secs) in &report.steps {
                    eprintln!("componentize-py: {step:<16} {secs:8.3} s");
                }
            }
            if !quiet {
                eprintln!("componentize-py: wrote {}", request.output.display());
            }
            Ok(())
        }
        Command::Bindings { output_dir } => {
            let (resolve, world) = wit::resolve(&wit)?;
            let (_, metadata) = wit_dylib::create_with_metadata(&resolve, world, None)
                .context("computing the bindings metadata")?;
            let files = bindings::generate(&resolve, world, &metadata)?;
            componentize::write_files(&output_dir, &files)
        }
        Command::Run {
            invoke,
            component,
            args,
        } => run::run(&component, &invoke, &args),
    }
}
