//! WASI 0.3 hosts, end to end through the real binary: `run` of a
//! component exporting `wasi:cli/run@0.3.0` (an async `run`), whose
//! `print` goes through WASI 0.2 (wasi-libc and the preview1 adapter), so
//! the host links 0.2 and 0.3 together; `serve` of `wasi:http/service@0.3.0`
//! components; our examples cli-p3, http-p3 and tcp-p3, and upstream
//! 0.25.1's own examples of those names, unchanged, from its sdist
//! ([`common::upstream_sdist`]). The servers and listeners the components
//! talk to are the test's, on loopback; every wait is bounded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

mod common;
use common::net::{accept_within, dechunk, read_head, respond, sha256_hex};
use common::{compiler, componentize_py, repo, text, upstream_sdist, Server};

/// Build world `world` of `tests/fixtures/p3` with app module `app`.
fn build_fixture(world: &str, app: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join(format!("{app}.wasm"));
    let output = componentize_py(
        &repo().join("tests/fixtures/p3"),
        &["-d", "p3.wit", "-w", world, "componentize", app, "-o", wasm.to_str().unwrap()],
    );
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
    (tmp, wasm)
}

#[test]
fn run_calls_the_async_run_of_wasi_cli_0_3() {
    let (_tmp, wasm) = build_fixture("run-only", "run_only");
    let wasm_arg = wasm.to_str().unwrap();

    let output = componentize_py(wasm.parent().unwrap(), &["run", wasm_arg, "a", "b"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "run@0.3.0: argv ['a', 'b']\n");

    // `run` returns `err`: exit code 1, and the output printed before it.
    let output = componentize_py(wasm.parent().unwrap(), &["run", wasm_arg, "fail"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "run@0.3.0: argv ['fail']\n");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the component's `wasi:cli/run` returned an error"), "{stderr}");
}

/// examples/cli-p3: the whole `wasi:cli/command@0.3.0` world, whose stdout
/// is a `stream<u8>` written by the guest and read by the host, and whose
/// `err` result is exit code 1.
#[test]
fn the_cli_p3_example_writes_stdout_through_a_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("cli.wasm");
    let wasm_arg = wasm.to_str().unwrap();
    let example = repo().join("examples/cli-p3");
    let output = componentize_py(&example, &["-d", "cli.wit", "-w", "cli", "componentize", "app", "-o", wasm_arg]);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));

    let output = componentize_py(tmp.path(), &["run", wasm_arg, "Bazel", "WASI"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "Hello, Bazel! (wasi:cli/stdout@0.3.0)\nHello, WASI! (wasi:cli/stdout@0.3.0)\n"
    );

    let output = componentize_py(tmp.path(), &["run", wasm_arg, "fail"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Hello, fail! (wasi:cli/stdout@0.3.0)\n");
}

/// Build the app in `dir` with `args` (WIT, world and app module, as given
/// before `-o`) into `out`.
fn build(dir: &Path, args: &[&str], out: &Path) {
    let all = [args, &["-o", out.to_str().unwrap()]].concat();
    let output = componentize_py(dir, &all);
    assert!(output.status.success(), "build in {} failed: {}", dir.display(), text(&output.stderr));
}

/// Upstream's example `name` (`examples/NAME` of its sdist, whose WIT is
/// the sdist's `wit/`, two folders up), built with `world` as its README
/// says.
fn build_upstream_example(name: &str, world: &str, out: &Path) {
    let dir = upstream_sdist().join("examples").join(name);
    build(&dir, &["-d", "../../wit", "-w", world, "componentize", "app"], out);
}

// --- TCP --------------------------------------------------------------

/// A TCP listener of the test on loopback: accepts one connection, reads
/// until `until` arrived (`None`: until the client closes its side), answers
/// `answer` followed by what it read, then reads to the end (as `nc -l`
/// would) and closes. Returns its address and what it read.
fn tcp_peer(until: Option<&'static [u8]>, answer: &'static [u8]) -> (String, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let mut stream = accept_within(&listener, Duration::from_secs(60));
        let mut received = Vec::new();
        let mut buffer = [0; 1024];
        while until.is_none_or(|until| !received.ends_with(until)) {
            let n = stream.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
        }
        stream.write_all(answer).unwrap();
        stream.write_all(&received).unwrap();
        let _ = stream.read_to_end(&mut Vec::new());
        received
    });
    (addr, peer)
}

/// `run` `wasm` with `options`, then `args`, within 60 s.
fn run(wasm: &Path, options: &[&str], args: &[&str]) -> std::process::Output {
    let output = compiler()
        .arg("run")
        .args(options)
        .args(["--timeout", "60s"])
        .arg(wasm)
        .args(args)
        .output()
        .unwrap();
    eprintln!("--- stdout\n{}--- stderr\n{}", text(&output.stdout), text(&output.stderr));
    output
}

/// Without `--inherit-network` the host refuses the connection: `run`
/// fails, and no connection reaches `listener`. Returns stderr.
fn connect_is_refused_without_the_flag(wasm: &Path, args: &[&str]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let args: Vec<&str> = args.iter().map(|arg| if *arg == "ADDR" { addr.as_str() } else { arg }).collect();
    let output = run(wasm, &[], &args);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "a connection came through without --inherit-network");
    text(&output.stderr)
}

/// examples/tcp-p3: `wasi:sockets@0.3.0` under `run --inherit-network`
/// (the p3 sockets get the grant): the client connects, sends its message,
/// closes its side (the peer reads end of stream), reads the answer until
/// the peer closes and prints it. Without the flag the connect fails with
/// `access-denied`, which the client names.
#[test]
fn the_tcp_p3_example_talks_to_a_local_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("tcp.wasm");
    build(&repo().join("examples/tcp-p3"), &["-d", "tcp.wit", "-w", "tcp", "componentize", "app"], &wasm);

    let (addr, peer) = tcp_peer(None, b"echo: ");
    let output = run(&wasm, &["--inherit-network"], &[&addr, "ping over wasi:sockets@0.3.0"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "received: b'echo: ping over wasi:sockets@0.3.0'\n");
    assert_eq!(peer.join().unwrap(), b"ping over wasi:sockets@0.3.0");

    let stderr = connect_is_refused_without_the_flag(&wasm, &["ADDR"]);
    assert!(stderr.contains(": ErrorCode_AccessDenied() (grant the network with"), "{stderr}");
    assert!(stderr.contains("the component's `wasi:cli/run` returned an error"), "{stderr}");
}

/// Upstream's examples/tcp-p3, unchanged. Its README builds world
/// `wasi:cli/command@0.3.0-rc-2026-03-15`, but the sdist's `wit/` carries
/// only `wasi:cli@0.3.0`, so it is built for `@0.3.0`. It sends `hello,
/// world!`, prints the first answer, then closes.
#[test]
fn upstreams_tcp_p3_example_runs_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("tcp.wasm");
    build_upstream_example("tcp-p3", "wasi:cli/command@0.3.0", &wasm);

    let (addr, peer) = tcp_peer(Some(b"hello, world!"), b"hi from the test, you said ");
    let output = run(&wasm, &["--inherit-network"], &[&addr]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "received: b'hi from the test, you said hello, world!'\n");
    assert_eq!(peer.join().unwrap(), b"hello, world!");

    connect_is_refused_without_the_flag(&wasm, &["ADDR"]);
}

/// Upstream's examples/cli-p3, unchanged: `print` in an async `run`.
#[test]
fn upstreams_cli_p3_example_runs_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("cli.wasm");
    build_upstream_example("cli-p3", "wasi:cli/command@0.3.0", &wasm);
    let output = run(&wasm, &[], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Hello, world!\n");
}

// --- HTTP -------------------------------------------------------------

/// `n` bytes of a fixed pseudo-random sequence (xorshift), every value.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 32) as u8
        })
        .collect()
}

/// `POST /echo` to the service at `addr`, as a chunked request in two
/// halves of 192 KiB: the second is sent only once the first has come back
/// whole, which proves that the service streams (it cannot have the whole
/// body before it answers); then the whole body must come back, byte for
/// byte, with its content type.
fn check_echo_streams(addr: &str) {
    let halves = [noise(192 * 1024, 1), noise(192 * 1024, 2)];
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let (first_back, first_back_rx) = mpsc::channel::<()>();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let halves = halves.clone();
        std::thread::spawn(move || {
            let head = "POST /echo HTTP/1.1\r\nhost: test\r\ncontent-type: application/x-noise\r\n\
                        transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            stream.write_all(head.as_bytes()).unwrap();
            for (index, half) in halves.iter().enumerate() {
                if index == 1 {
                    // Never sent if the first half does not come back first.
                    if first_back_rx.recv_timeout(Duration::from_secs(30)).is_err() {
                        return;
                    }
                }
                for piece in half.chunks(50_000) {
                    write!(stream, "{:x}\r\n", piece.len()).unwrap();
                    stream.write_all(piece).unwrap();
                    stream.write_all(b"\r\n").unwrap();
                }
            }
            stream.write_all(b"0\r\n\r\n").unwrap();
        })
    };

    let mut response = Vec::new();
    let mut buffer = [0; 16 * 1024];
    let mut first_seen = false;
    let body = loop {
        let n = match stream.read(&mut buffer) {
            Ok(n) => n,
            Err(error) => panic!(
                "reading the echo ({} bytes so far, first half back: {first_seen}): {error}",
                response.len()
            ),
        };
        assert!(n > 0, "the connection closed before the echo was complete");
        response.extend_from_slice(&buffer[..n]);
        let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let (body, complete) = dechunk(&response[split + 4..]);
        if !first_seen && body.len() >= halves[0].len() {
            assert!(body[..halves[0].len()] == halves[0][..], "the first half came back changed");
            first_seen = true;
            first_back.send(()).unwrap();
        }
        if complete {
            let head = text(&response[..split]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(head.contains("content-type: application/x-noise"), "{head}");
            break body;
        }
    };
    writer.join().unwrap();
    assert_eq!(body.len(), 2 * 192 * 1024);
    assert!(body == [&halves[0][..], &halves[1][..]].concat(), "the echo differs from the body sent");
}

/// An HTTP/1.1 origin of the test on loopback, for one `GET`: answers
/// `body`, then tells `answered`; if `after` is given, it first waits until
/// that many answers were told there (at most 30 s), and 300 ms more.
fn origin(
    body: &'static [u8],
    answered: mpsc::Sender<()>,
    after: Option<(mpsc::Receiver<()>, usize)>,
) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let mut stream = accept_within(&listener, Duration::from_secs(60));
        let head = read_head(&mut stream);
        assert!(head.starts_with(b"GET /"), "{}", text(&head));
        if let Some((others, count)) = after {
            for _ in 0..count {
                let _ = others.recv_timeout(Duration::from_secs(30));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        respond(&mut stream, body);
        let _ = answered.send(());
    });
    (addr, server)
}

/// `GET /hash-all` on the service at `addr` with a `url` header for a slow
/// origin first, then two quick ones (and, with `refused`, an address where
/// nothing listens). The slow origin answers only after both quick ones
/// have: a service fetching one URL after the other would wait 30 s for it,
/// and list it first. Checks each line (the URL and the SHA-256 of its
/// body, or the error) and that the lines come in completion order, the
/// slow one last. Returns the lines.
fn check_hash_all(addr: &str, refused: bool) -> Vec<String> {
    let bodies: [&'static [u8]; 3] = [b"the slow origin's body", b"quick body one", b"quick body two"];
    let (answered, answers) = mpsc::channel();
    let (quick1, quick1_server) = origin(bodies[1], answered.clone(), None);
    let (quick2, quick2_server) = origin(bodies[2], answered.clone(), None);
    let (slow, slow_server) = origin(bodies[0], answered, Some((answers, 2)));
    let mut urls = vec![format!("http://{slow}/slow"), format!("http://{quick1}/one"), format!("http://{quick2}/two")];
    if refused {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        urls.push(format!("http://{}/none", listener.local_addr().unwrap()));
    }

    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("GET /hash-all HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for url in &urls {
        head.push_str(&format!("url: {url}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    for server in [quick1_server, quick2_server, slow_server] {
        server.join().unwrap();
    }

    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = text(&response[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200") && head.contains("content-type: text/plain"), "{head}");
    let (body, complete) = dechunk(&response[split + 4..]);
    assert!(complete, "the body ended early");
    let lines: Vec<String> = text(&body).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), urls.len(), "{lines:#?}");
    assert_eq!(lines.last().unwrap(), &format!("{}: {}", urls[0], sha256_hex(bodies[0])), "{lines:#?}");
    let mut first: Vec<&str> = lines[..lines.len() - 1].iter().map(String::as_str).collect();
    first.sort();
    let mut expected =
        vec![format!("{}: {}", urls[1], sha256_hex(bodies[1])), format!("{}: {}", urls[2], sha256_hex(bodies[2]))];
    if refused {
        expected.push(format!("{}: error: ErrorCode_ConnectionRefused()", urls[3]));
    }
    expected.sort();
    assert_eq!(first, expected, "{lines:#?}");
    lines
}

/// Stop `server`; no request may have failed (each failure is a line of its
/// stderr naming the request).
fn stop_cleanly(server: Server) {
    let (status, stderr) = server.interrupt();
    assert!(status.success(), "serve exited with {status}: {stderr}");
    let failures: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("componentize-py serve: ") && !line.ends_with("shutting down"))
        .collect();
    assert!(failures.is_empty(), "requests failed: {stderr}");
}

/// examples/http-p3 under `serve`: `POST /echo` streams the request body
/// back as it arrives; `GET /hash-all` fans out concurrent outgoing
/// requests (`wasi:http/client`) to origins of the test and streams one
/// line per URL back in the order they finish, the refused one included;
/// another path is a 404.
#[test]
fn the_http_p3_example_echoes_streams_and_fans_out() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("http.wasm");
    build(&repo().join("examples/http-p3"), &["-d", "http.wit", "-w", "http", "componentize", "app"], &wasm);
    let server = Server::start_with(&wasm, &["--timeout", "60s"]);

    check_echo_streams(&server.addr);
    check_hash_all(&server.addr, true);

    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(b"GET /nope HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(text(&response).starts_with("HTTP/1.1 404"), "{}", text(&response));

    stop_cleanly(server);
}

/// Upstream's examples/http-p3, unchanged, under `serve`: the same echo
/// (it hands the request body to the response as it is) and `hash-all`
/// (`asyncio.as_completed` over `client.send`).
#[test]
fn upstreams_http_p3_example_runs_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("http.wasm");
    build_upstream_example("http-p3", "wasi:http/service@0.3.0", &wasm);
    let server = Server::start_with(&wasm, &["--timeout", "60s"]);

    check_echo_streams(&server.addr);
    check_hash_all(&server.addr, false);

    stop_cleanly(server);
}
