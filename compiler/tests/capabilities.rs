//! `componentize-py run --dir/--env/--inherit-network/--allow-ip-name-lookup`
//! through the real binary, with `tests/fixtures/capabilities` (a
//! `wasi:cli/command` that reads files, prints environment variables and
//! opens TCP connections to 127.0.0.1). Nothing is granted without a flag.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

mod common;
use common::{compiler, componentize_py, repo, text};

/// The fixture, built once for all tests of this file.
fn caps() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capabilities-test");
        std::fs::create_dir_all(&dir).unwrap();
        let wasm = dir.join("caps.wasm");
        let output = componentize_py(
            &repo().join("tests/fixtures/capabilities"),
            &["-d", "wit", "-w", "caps", "componentize", "caps", "-o", wasm.to_str().unwrap()],
        );
        assert!(output.status.success(), "build failed: {}", text(&output.stderr));
        wasm
    })
}

/// `componentize-py run --timeout 60s FLAGS caps.wasm ARGS`, with `env` set
/// in the host's environment.
fn run(flags: &[&str], args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = compiler()
        .args(["run", "--timeout", "60s"])
        .args(flags)
        .arg(caps())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    eprintln!(
        "run {flags:?} {args:?}\n--- stdout\n{}--- stderr\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

#[test]
fn dir_grants_a_host_directory() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("data.txt"), "hello from the host\n").unwrap();
    let dir = format!("{}::/data", host.path().display());

    let output = run(&["--dir", &dir], &["read", "/data/data.txt"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "hello from the host\n");

    // Read-write, like the Wasmtime CLI's `--dir`.
    let output = run(&["--dir", &dir], &["write", "/data/out.txt", "written by the guest"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(std::fs::read_to_string(host.path().join("out.txt")).unwrap(), "written by the guest");

    // Without `::GUEST` the guest path is the host path.
    let file = host.path().join("data.txt");
    let output = run(&["--dir", host.path().to_str().unwrap()], &["read", file.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "hello from the host\n");

    // Nothing without the flag.
    let output = run(&[], &["read", "/data/data.txt"], &[]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("FileNotFoundError"), "{}", text(&output.stderr));

    // A missing host directory is an error that names it.
    let output = run(&["--dir", "/no/such/dir::/data"], &["read", "/data/x"], &[]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("`--dir /no/such/dir`"), "{}", text(&output.stderr));
}

#[test]
fn env_sets_or_inherits_variables() {
    let host_env = [("CAPS_FROM_HOST", "host value"), ("CAPS_NOT_PASSED", "secret")];
    let output = run(
        &["--env", "CAPS_GREETING=hi=there", "--env", "CAPS_FROM_HOST", "--env", "CAPS_UNSET"],
        &["env", "CAPS_GREETING", "CAPS_FROM_HOST", "CAPS_NOT_PASSED", "CAPS_UNSET"],
        &host_env,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "CAPS_GREETING='hi=there'\nCAPS_FROM_HOST='host value'\nCAPS_NOT_PASSED=None\nCAPS_UNSET=None\n"
    );
    let output = run(&[], &["env", "CAPS_FROM_HOST"], &host_env);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "CAPS_FROM_HOST=None\n");
}

#[test]
fn network_needs_its_flags() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();

    let output = run(&[], &["connect", &port], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "error: ErrorCode.ACCESS_DENIED\n");

    let output = run(&["--inherit-network"], &["connect", &port], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "connected\n");
    // The connection reached the test's listener.
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while listener.accept().is_err() {
        assert!(std::time::Instant::now() < deadline, "no connection arrived");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Name lookup is a flag of its own (`localhost` resolves from the
    // host's hosts file, without a DNS server).
    let output = run(&["--inherit-network"], &["lookup", "localhost"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // What wasmtime-wasi answers for a lookup it may not make.
    assert_eq!(text(&output.stdout), "error: ErrorCode.PERMANENT_RESOLVER_FAILURE\n");
    let output = run(&["--allow-ip-name-lookup"], &["lookup", "localhost"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("resolved: IpAddress"), "{stdout}");
}

#[test]
fn bad_capability_flags_are_command_line_errors() {
    for flags in [["--dir", "::/x"], ["--env", "=x"]] {
        let output = compiler().arg("run").args(flags).arg("x.wasm").output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        assert!(text(&output.stderr).contains("expected `"), "{}", text(&output.stderr));
    }
}
