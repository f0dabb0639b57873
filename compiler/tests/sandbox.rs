//! `componentize --stub-wasi` and `run --max-memory/--timeout`, through the
//! real binary on `examples/sandbox` (eval and exec of Python snippets in a
//! component that imports no WASI).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;
use common::{compiler, componentize_py, repo, text};

/// Build `examples/sandbox` into `out`, with or without `--stub-wasi`.
fn build_sandbox(out: &Path, stub_wasi: bool) {
    let out = out.to_str().unwrap();
    let mut args = vec!["-d", "sandbox.wit", "-w", "sandbox", "componentize", "app", "-p", ".", "-o", out];
    if stub_wasi {
        args.push("--stub-wasi");
    }
    let output = componentize_py(&repo().join("examples/sandbox"), &args);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
}

/// The `--stub-wasi` sandbox, built once for all tests of this file.
fn sandbox() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-test");
        std::fs::create_dir_all(&dir).unwrap();
        let wasm = dir.join("sandbox.wasm");
        build_sandbox(&wasm, true);
        wasm
    })
}

/// `componentize-py run [flags] --invoke CALL... sandbox.wasm`.
fn run(flags: &[&str], calls: &[&str]) -> Output {
    let mut command = compiler();
    command.arg("run").args(flags);
    for call in calls {
        command.args(["--invoke", call]);
    }
    let output = command.arg(sandbox()).output().unwrap();
    eprintln!(
        "run {flags:?} {calls:?}\n--- stdout\n{}--- stderr\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// The names of a component's top-level imports.
fn component_imports(wasm: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    // `parse_all` also walks nested modules and components, whose imports
    // are not the component's.
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    names.push(import.unwrap().name.name.to_string());
                }
            }
            wasmparser::Payload::ModuleSection { .. } | wasmparser::Payload::ComponentSection { .. } => {
                depth += 1
            }
            wasmparser::Payload::End(_) => depth -= 1,
            _ => {}
        }
    }
    names
}

#[test]
fn stub_wasi_component_imports_no_wasi() {
    let stubbed = std::fs::read(sandbox()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let with_wasi = tmp.path().join("sandbox-wasi.wasm");
    build_sandbox(&with_wasi, false);
    let with_wasi = std::fs::read(&with_wasi).unwrap();

    let imports = component_imports(&with_wasi);
    assert!(
        imports.iter().any(|name| name.starts_with("wasi:")),
        "the ordinary build should import WASI: {imports:?}"
    );
    let imports = component_imports(&stubbed);
    assert!(imports.is_empty(), "a --stub-wasi build imports {imports:?}");

    // The decoded world agrees: no imports at all, the two exports.
    let wit_component::DecodedWasm::Component(resolve, world) = wit_component::decode(&stubbed).unwrap() else {
        panic!("not a component");
    };
    let world = &resolve.worlds[world];
    assert!(world.imports.is_empty(), "{:?}", world.imports.keys().collect::<Vec<_>>());
    let exports: Vec<String> = world.exports.keys().map(|key| resolve.name_world_key(key)).collect();
    assert_eq!(exports, ["eval", "exec"]);
    eprintln!(
        "sandbox component: {} bytes with --stub-wasi, {} bytes with WASI",
        stubbed.len(),
        with_wasi.len()
    );
}

#[test]
fn eval_and_exec_work_without_wasi() {
    let output = run(
        &[],
        &[
            r#"eval("1 + 2")"#,
            r#"exec("x = 6 * 7\nprint('x is', x)")"#,
            r#"eval("x")"#,
            r#"eval("[math.sqrt(16), json.dumps({'a': 1})]")"#,
            r#"eval("'caf\u{e9}'.upper()")"#,
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        concat!(
            "ok(\"3\")\n",
            "ok(\"x is 42\\n\")\n",
            "ok(\"42\")\n",
            // WAVE escapes `'` in strings.
            "ok(\"[4.0, \\'{\\\"a\\\": 1}\\']\")\n",
            "ok(\"\\'CAFÉ\\'\")\n",
        )
    );
}

#[test]
fn exceptions_come_back_as_err() {
    let output = run(
        &[],
        &[
            r#"eval("1 / 0")"#,
            r#"exec("raise ValueError('no good')")"#,
            r#"eval("undefined_name")"#,
            r#"exec("def f(:")"#,
            // The instance survives its guests' exceptions.
            r#"eval("'still here'")"#,
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(lines[0], r#"err("ZeroDivisionError: division by zero")"#);
    assert_eq!(lines[1], r#"err("ValueError: no good")"#);
    assert_eq!(lines[2], r#"err("NameError: name \'undefined_name\' is not defined")"#);
    assert!(lines[3].starts_with("err(\"") && lines[3].contains("SyntaxError"), "{}", lines[3]);
    assert_eq!(lines[4], r#"ok("\'still here\'")"#);
}

#[test]
fn wasi_calls_trap_and_say_so() {
    for (snippet, function) in [
        ("import time; time.time()", "clock_time_get"),
        ("import os; os.urandom(4)", "random_get"),
        // Python's own stdout, not the captured one.
        ("import sys; sys.__stdout__.write('hi')", "fd_write"),
    ] {
        let call = format!("exec({snippet:?})");
        let started = Instant::now();
        let output = run(&["--timeout", "60s"], &[&call]);
        assert!(!output.status.success(), "`{snippet}` should trap");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("the WASI function `{function}`"))
                && stderr.contains("--stub-wasi"),
            "`{snippet}`: {stderr}"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "`{snippet}` took {:?}", started.elapsed());
    }
}

/// No file system, but no trap either: `fd_prestat_get` reports no
/// preopened directories, so file access fails in Python.
#[test]
fn files_and_unknown_modules_fail_in_python() {
    let output = run(
        &[],
        &[
            r#"exec("open('/etc/passwd')")"#,
            r#"exec("import not_in_the_snapshot")"#,
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        concat!(
            "err(\"FileNotFoundError: [Errno 44] No such file or directory: \\'/etc/passwd\\'\")\n",
            "err(\"ModuleNotFoundError: No module named \\'not_in_the_snapshot\\'\")\n",
        )
    );
}

#[test]
fn timeout_stops_a_runaway_loop() {
    // Warm the compile cache for an engine with epoch interruption, so that
    // the timing below is the guest's.
    let warm = run(&["--timeout", "60s"], &[r#"eval("0")"#]);
    assert!(warm.status.success(), "{}", text(&warm.stderr));

    let started = Instant::now();
    let output = run(&["--timeout", "1s"], &[r#"exec("while True: pass")"#]);
    let elapsed = started.elapsed();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("ran longer than --timeout 1s and was stopped"), "{stderr}");
    assert!(elapsed >= Duration::from_secs(1), "stopped before the timeout: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?} to stop");
}

#[test]
fn max_memory_makes_memory_bombs_raise_memory_error() {
    // As upstream's sandbox host (wasmtime-py with a store memory limit):
    // the growth fails, CPython raises MemoryError, the export returns it
    // as `err`, and the instance lives on.
    let started = Instant::now();
    let output = run(
        &["--max-memory", "64M", "--timeout", "60s"],
        &[
            r#"exec("x = 'a' * 10**9")"#,
            r#"exec("y = bytes(100 * 1024 * 1024)")"#,
            r#"eval("'still here'")"#,
            r#"exec("z = 'a' * 10**6")"#,
            r#"eval("len(z)")"#,
        ],
    );
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        concat!(
            "err(\"MemoryError\")\n",
            "err(\"MemoryError\")\n",
            "ok(\"\\'still here\\'\")\n",
            "ok(\"\")\n",
            "ok(\"1000000\")\n",
        )
    );
    // `--timeout 60s` bounded the guest; compiling (not counted) can take
    // long on a loaded machine.
    eprintln!("took {elapsed:?}");

    // The cap is what failed them: 100 MB fits under 512 MiB.
    let output = run(&["--max-memory", "512M"], &[r#"exec("x = 'a' * 10**8")"#, r#"eval("len(x)")"#]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "ok(\"\")\nok(\"100000000\")\n");
}

#[test]
fn memory_filled_bit_by_bit_comes_back_as_memory_error() {
    // Small allocations until the cap: the last one fails, and the
    // MemoryError still comes back as `err` (CPython keeps a MemoryError
    // instance in reserve); the instance serves the next call.
    let started = Instant::now();
    let output = run(
        &["--max-memory", "64M", "--timeout", "60s"],
        &["exec(\"x = []\\nwhile True: x.append('a' * 1000)\")", r#"eval("1 + 1")"#],
    );
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "err(\"MemoryError\")\nok(\"2\")\n");
    eprintln!("took {elapsed:?}");
}

#[test]
fn trap_on_grow_failure_stops_memory_bombs() {
    for bomb in [
        "x = 'a' * 10**9",
        "x = []\nwhile True: x.append('a' * 1000)",
    ] {
        let call = format!("exec({bomb:?})");
        let started = Instant::now();
        let output = run(&["--max-memory", "64M", "--trap-on-grow-failure", "--timeout", "60s"], &[&call]);
        let elapsed = started.elapsed();
        assert!(!output.status.success(), "`{bomb}` should fail");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("needed more memory than --max-memory 64 MiB")
                && stderr.contains("beyond --max-memory 64 MiB"),
            "`{bomb}`: {stderr}"
        );
        assert!(!stderr.contains("--timeout"), "`{bomb}` hit the timeout: {stderr}");
        assert!(elapsed < Duration::from_secs(30), "`{bomb}` took {elapsed:?} to stop");
    }
    // The flag needs a cap.
    let output = compiler().args(["run", "--trap-on-grow-failure", "x.wasm"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn bad_limits_are_command_line_errors() {
    let output = compiler()
        .args(["run", "--max-memory", "lots", "x.wasm"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("is not a size such as `64M`"), "{}", text(&output.stderr));
    let output = compiler()
        .args(["run", "--timeout", "5 parsecs", "x.wasm"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("unknown duration unit"), "{}", text(&output.stderr));
}

/// The wasmtime-py version the sandbox host is tested with (50.0.1 traps
/// when a host passes lists of borrowed handles).
const WASMTIME_PY: &str = "49.0.0";

/// A Python with wasmtime-py, in a venv kept under `target/` (made once:
/// the first run needs the package registry).
fn wasmtime_py_python() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let venv = target.join(format!("wasmtime-py-{WASMTIME_PY}"));
    let python = venv.join("bin/python3");
    let works = |python: &Path| {
        std::process::Command::new(python)
            .args(["-c", "import wasmtime.component"])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if works(&python) {
        return python;
    }
    // Made aside and renamed into place, so that an interrupted install
    // leaves no half venv behind.
    let partial = target.join(format!("wasmtime-py-{WASMTIME_PY}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let status = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&partial)
        .status()
        .unwrap();
    assert!(status.success(), "python3 -m venv failed");
    let output = std::process::Command::new(partial.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("wasmtime=={WASMTIME_PY}"))
        .output()
        .unwrap();
    assert!(output.status.success(), "pip install wasmtime=={WASMTIME_PY}: {}", text(&output.stderr));
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::rename(&partial, &venv).unwrap();
    assert!(works(&python), "wasmtime-py does not import from {}", venv.display());
    python
}

/// Upstream's sandbox host runs our component under wasmtime-py with a
/// store memory limit: its memory bomb comes back as `err("MemoryError")`
/// there too.
#[test]
fn wasmtime_py_hosts_the_sandbox_and_its_memory_limit() {
    let python = wasmtime_py_python();
    let host = repo().join("examples/sandbox/host.py");
    let output = std::process::Command::new(&python)
        .arg(&host)
        .arg(sandbox())
        .args(["x = 6 * 7", "y = 'a' * 10**9", "1 / 0", "x"])
        .output()
        .unwrap();
    eprintln!("--- stdout\n{}--- stderr\n{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "ok: \nerr: MemoryError\nerr: ZeroDivisionError: division by zero\nok: 42\n"
    );
}
