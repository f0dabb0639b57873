//! Upstream componentize-py 0.25.1's own examples, unmodified, built by the
//! real binary with exactly the command line of each example's README (in a
//! copy of the example's folder beside a copy of upstream's `wit/`, so that
//! `-d ../../wit` means what it means upstream), then run with our hosts
//! (and, for the sandbox, with upstream's own host: wasmtime-py 38.0.0 and
//! its `host.py`). The files come from upstream's sdist
//! (`common::upstream_sdist`); none is kept in this repository.
//!
//! `examples/matrix-math` is not run: it needs numpy built for WASI, which
//! no package registry serves. The `-p3` examples target WASI 0.3 and are
//! not covered here.

mod common;

use common::net::{accept_within, origin, request, sha256_hex};
use common::{copy_dir, compiler, componentize_py, text, upstream_sdist, Server};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A copy of upstream's `examples/NAME` at `work/examples/NAME`, with
/// upstream's `wit/` at `work/wit`; returns the example's folder.
fn example(name: &str, work: &Path) -> PathBuf {
    let sdist = upstream_sdist();
    copy_dir(&sdist.join("wit"), &work.join("wit"));
    let dir = work.join("examples").join(name);
    copy_dir(&sdist.join("examples").join(name), &dir);
    dir
}

/// Run the README's build command line `args` in `dir`; it must succeed
/// with upstream's console output.
fn build(dir: &Path, args: &[&str]) {
    let output = componentize_py(dir, args);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Component built successfully\n");
}

#[test]
fn cli_example_prints_hello_world() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = example("cli", tmp.path());
    build(&dir, &["-d", "../../wit", "-w", "wasi:cli/command@0.2.0", "componentize", "app", "-o", "cli.wasm"]);
    let output = compiler()
        .current_dir(&dir)
        .args(["run", "--timeout", "60s", "cli.wasm"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Hello, world!\n");
}

/// Upstream's http example under `serve` (its README: `wasmtime serve
/// -Scli http.wasm`): `POST /echo` streams the body back, and `GET
/// /hash-all` downloads every `url:` header's URL concurrently (`poll_loop`
/// over `wasi:http/outgoing-handler`) and answers one line per URL with the
/// sha256 of its body.
#[test]
fn http_example_echoes_and_hashes_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = example("http", tmp.path());
    build(&dir, &["-d", "../../wit", "-w", "wasi:http/proxy@0.2.0", "componentize", "app", "-o", "http.wasm"]);
    let server = Server::start_with(&dir.join("http.wasm"), &["--timeout", "60s"]);

    let poem = "’Twas brillig, and the slithy toves\n      Did gyre and gimble in the wabe:\n";
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.addr,
        poem.len()
    );
    let (status, body) = request(&server.addr, &head, poem.as_bytes());
    assert!(status.starts_with("http/1.1 200"), "{status}");
    assert_eq!(text(&body), poem);

    let bodies: [&'static [u8]; 3] = [b"first origin\n", b"second origin, a longer body\n", b""];
    let origins: Vec<_> = bodies.iter().map(|body| origin(body, Duration::ZERO, 1)).collect();
    let urls: Vec<String> = origins
        .iter()
        .enumerate()
        .map(|(i, (addr, _))| format!("http://{addr}/file{i}.txt"))
        .collect();
    let mut head = format!("GET /hash-all HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n", server.addr);
    for url in &urls {
        head.push_str(&format!("url: {url}\r\n"));
    }
    head.push_str("\r\n");
    let (status, body) = request(&server.addr, &head, b"");
    assert!(status.starts_with("http/1.1 200"), "{status}");
    let mut lines: Vec<String> = text(&body).lines().map(str::to_string).collect();
    lines.sort();
    let mut expected: Vec<String> = urls
        .iter()
        .zip(bodies)
        .map(|(url, body)| format!("{url}: {}", sha256_hex(body)))
        .collect();
    expected.sort();
    assert_eq!(lines, expected);
    for (_, origin) in origins {
        origin.join().unwrap();
    }
    // No other request is accepted.
    let head = format!("GET /nothing HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n", server.addr);
    let (status, _) = request(&server.addr, &head, b"");
    assert!(status.starts_with("http/1.1 400"), "{status}");
}

/// The wasmtime-py release upstream's sandbox README pins (its `host.py`
/// uses `wasmtime.bindgen`, which later releases replaced).
const WASMTIME_PY: &str = "wasmtime==38.0.0";

/// A venv with `WASMTIME_PY`, made once per target folder under a lock
/// file. Returns its `python3`.
fn wasmtime_py_38() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf();
    let venv = target.join("wasmtime-py-38");
    let python = venv.join("bin/python3");
    let ready = venv.join(".installed");
    let installed = || std::fs::read_to_string(&ready).is_ok_and(|s| s.trim() == WASMTIME_PY);
    if installed() {
        return python;
    }
    let lock = std::fs::File::create(target.join("wasmtime-py-38.lock")).unwrap();
    lock.lock().unwrap();
    if installed() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let status = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().unwrap();
    assert!(status.success(), "python3 -m venv failed");
    let output = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", WASMTIME_PY])
        .output()
        .unwrap();
    assert!(output.status.success(), "pip install {WASMTIME_PY}: {}", text(&output.stderr));
    std::fs::write(&ready, WASMTIME_PY).unwrap();
    python
}

/// Upstream's sandbox: built with `--stub-wasi` as its README says, host
/// code generated by `python3 -m wasmtime.bindgen`, and its `host.py`
/// (40 MB store memory limit, 20 s epoch timeout) run unmodified.
///
/// `host.py`'s 20 s timeout covers compiling the component too, so the
/// test first compiles the core modules into a private Wasmtime cache
/// (`XDG_CACHE_HOME`) with the same engine settings, as an earlier run of
/// `host.py` would; on a loaded 2-core machine a cold compile can take
/// longer than 20 s. The timeout example of the README (`while True:
/// pass`, 20 s) is left out for CI time.
#[test]
fn sandbox_example_runs_under_upstreams_wasmtime_py_host() {
    let python = wasmtime_py_38();
    let tmp = tempfile::tempdir().unwrap();
    let dir = example("sandbox", tmp.path());
    build(&dir, &["-d", "sandbox.wit", "componentize", "--stub-wasi", "guest", "-o", "sandbox.wasm"]);
    let cache = tmp.path().join("cache");
    let python = |args: &[&str]| {
        let output = Command::new(&python)
            .current_dir(&dir)
            .env("XDG_CACHE_HOME", &cache)
            .args(args)
            .output()
            .unwrap();
        eprintln!("python3 {args:?}\n--- stdout\n{}--- stderr\n{}", text(&output.stdout), text(&output.stderr));
        output
    };
    let output = python(&["-m", "wasmtime.bindgen", "sandbox.wasm", "--out-dir", "sandbox"]);
    assert!(output.status.success());
    let warm = "import glob\n\
                from wasmtime import Config, Engine, Module\n\
                config = Config()\n\
                config.epoch_interruption = True\n\
                config.cache = True\n\
                engine = Engine(config)\n\
                paths = sorted(glob.glob('sandbox/*.wasm'))\n\
                assert paths\n\
                for path in paths:\n    Module.from_file(engine, path)\n";
    assert!(python(&["-c", warm]).status.success());

    let output = python(&["host.py", "2 + 2"]);
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), "result: 4\n");

    let output = python(&["host.py", "global foo\ndef foo(): return 42", "foo()"]);
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), "result: 42\n");

    // The memory bomb fails inside the guest: Python's MemoryError comes
    // back as `err("MemoryError")` (host.py exits with -1 then).
    let output = python(&["host.py", "global foo\nfoo = bytes(100 * 1024 * 1024)", "foo[42]"]);
    assert_eq!(text(&output.stdout), "exec error: MemoryError\n");
    assert!(!output.status.success());
}

/// Upstream's tcp example (`asyncio.open_connection`, which with us runs on
/// `poll_loop`'s `PollLoop` over `wasi:sockets`) under `run
/// --inherit-network` (its README: `wasmtime run --wasi inherit-network`)
/// against a listener of the test: the listener receives `hello, world!`,
/// answers, and then sees the connection closed; the component prints the
/// answer.
#[test]
fn tcp_example_talks_to_a_local_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = example("tcp", tmp.path());
    build(&dir, &["-d", "../../wit", "-w", "wasi:cli/command@0.2.0", "componentize", "app", "-o", "tcp.wasm"]);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let mut stream = accept_within(&listener, Duration::from_secs(60));
        let mut received = Vec::new();
        let mut buffer = [0; 1024];
        while received.len() < b"hello, world!".len() {
            let n = stream.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
        }
        stream.write_all(b"an answer from the test\n").unwrap();
        // Then the component closes its end.
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        (received, rest)
    });
    let output = compiler()
        .current_dir(&dir)
        .args(["run", "--inherit-network", "--timeout", "60s", "tcp.wasm", &addr])
        .output()
        .unwrap();
    eprintln!("--- stdout\n{}--- stderr\n{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "received: b'an answer from the test\\n'\n");
    let (received, rest) = peer.join().unwrap();
    assert_eq!(text(&received), "hello, world!");
    assert_eq!(rest, b"");

    // Without the network flag, the connection is refused inside the guest
    // (asyncio sees a PermissionError).
    let output = compiler()
        .current_dir(&dir)
        .args(["run", "--timeout", "60s", "tcp.wasm", &addr])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("PermissionError") && stderr.contains("ACCESS_DENIED"), "{stderr}");
}
