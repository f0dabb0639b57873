//! The `poll_loop` module (asyncio over `wasi:io/poll`), through the real
//! binary: which worlds' bindings get it, `examples/tcp` (a TCP client on
//! `wasi:sockets`) under `run --inherit-network` against a listener of the
//! test, and `examples/fanout` (an HTTP handler fanning out concurrent
//! outgoing requests) under `serve` against HTTP servers of the test. Only
//! loopback addresses; every wait is bounded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;
use common::net::{accept_within, dechunk_all, origin, read_head, respond, sha256_hex};
use common::{compiler, componentize_py, repo, text, Server};

/// Build `examples/NAME` (world NAME in `wit/`) into `out`.
fn build_example(name: &str, out: &Path) {
    let output = componentize_py(
        &repo().join("examples").join(name),
        &["-d", "wit", "-w", name, "componentize", "app", "-o", out.to_str().unwrap()],
    );
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
}

/// `bindings` for `examples/NAME` into a fresh folder, with `extra` flags.
fn bindings(name: &str, extra: &[&str]) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["-d", "wit", "-w", name];
    args.extend_from_slice(extra);
    args.extend(["bindings", out.path().to_str().unwrap()]);
    let dir = repo().join("examples").join(name);
    let output = componentize_py(&dir, &args);
    assert!(output.status.success(), "bindings failed: {}", text(&output.stderr));
    out
}

#[test]
fn bindings_write_poll_loop_for_worlds_that_can_use_it() {
    // wasi:http/proxy: the loop, streams, http bodies and `send`.
    let http = bindings("fanout", &[]);
    let source = std::fs::read_to_string(http.path().join("poll_loop.py")).unwrap();
    for needle in [
        "class PollLoop(asyncio.AbstractEventLoop)",
        "async def register(loop: PollLoop, pollable: Pollable)",
        "class Stream:",
        "class Sink:",
        "async def send(request: OutgoingRequest) -> IncomingResponse",
        "from wit_world.imports import poll as _poll",
        "from wit_world.imports import outgoing_handler as _outgoing_handler",
        "from wit_world.imports import monotonic_clock as _clock",
    ] {
        assert!(source.contains(needle), "missing `{needle}` in:\n{source}");
    }

    // wasi:cli/command: no wasi:http, so no `send`; streams of sockets.
    let cli = bindings("tcp", &[]);
    let source = std::fs::read_to_string(cli.path().join("poll_loop.py")).unwrap();
    assert!(source.contains("class Sink:") && !source.contains("\nasync def send("), "{source}");
    assert!(!source.contains("IncomingBody"), "{source}");

    // Other names for the package and the interfaces are followed.
    let renamed = bindings(
        "fanout",
        &["--world-module", "proxy", "--import-interface-name", "wasi:io/poll@0.2.12=waiting"],
    );
    let source = std::fs::read_to_string(renamed.path().join("poll_loop.py")).unwrap();
    assert!(source.contains("from proxy.imports import waiting as _poll"), "{source}");
    assert!(!source.contains("wit_world"), "{source}");

    // A world without wasi:io/poll gets no poll_loop.
    let out = tempfile::tempdir().unwrap();
    let output = componentize_py(
        &repo().join("examples/hello"),
        &["-d", "hello.wit", "-w", "hello", "bindings", out.path().to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!out.path().join("poll_loop.py").exists());

    // Valid Python 3.11 in every flavour.
    for dir in [http.path(), cli.path(), renamed.path()] {
        let output = std::process::Command::new("python3")
            .args(["-m", "py_compile"])
            .arg(dir.join("poll_loop.py"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
}

/// Upstream's parameter names: `create_task(coroutine)` (asyncio's own loops
/// say `coro`), so `loop.create_task(coroutine=...)` works. Run with host
/// Python, which can import the bindings (`componentize_py_runtime.py`) and
/// run a loop that waits for nothing.
#[test]
fn poll_loop_takes_upstreams_keyword_arguments() {
    let http = bindings("fanout", &[]);
    let script = "\
import asyncio, inspect, poll_loop
print(list(inspect.signature(poll_loop.PollLoop.create_task).parameters)[:2])
async def main():
    return 42
loop = poll_loop.PollLoop()
print(loop.run_until_complete(loop.create_task(coroutine=main())))
";
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .current_dir(http.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "['self', 'coroutine']\n42\n");
}

/// A listener of the test that accepts one connection, reads what comes
/// until `expected` arrived, answers `answer` and returns what it read.
fn tcp_peer(expected: &'static [u8], answer: &'static [u8]) -> (String, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let mut stream = accept_within(&listener, Duration::from_secs(60));
        let mut received = Vec::new();
        let mut buffer = [0; 1024];
        while !received.ends_with(expected) {
            let n = stream.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
        }
        stream.write_all(answer).unwrap();
        received
    });
    (addr, peer)
}

#[test]
fn tcp_client_talks_to_a_local_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("tcp.wasm");
    build_example("tcp", &wasm);

    let (addr, peer) = tcp_peer(b"hello, world!", b"hi from the test");
    let output = compiler()
        .args(["run", "--inherit-network", "--timeout", "60s"])
        .arg(&wasm)
        .arg(&addr)
        .output()
        .unwrap();
    eprintln!("--- stdout\n{}--- stderr\n{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "received: b'hi from the test'\n");
    assert_eq!(peer.join().unwrap(), b"hello, world!");

    // Without the flag the socket is refused.
    let output = compiler()
        .args(["run", "--timeout", "60s"])
        .arg(&wasm)
        .arg(&addr)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("ACCESS_DENIED"), "{}", text(&output.stderr));
}

#[test]
fn http_handler_fans_out_concurrent_requests_and_streams_results() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("fanout.wasm");
    build_example("fanout", &wasm);
    let server = Server::start_with(&wasm, &["--timeout", "60s"]);

    // One quick origin and two slow ones: fetched one after another, they
    // would take 4 s.
    const SLOW: Duration = Duration::from_secs(2);
    let bodies: [&'static [u8]; 3] = [b"quick body", b"slow body one", b"slow body two"];
    let (quick, quick_server) = origin(bodies[0], Duration::ZERO, 1);
    let (slow1, slow1_server) = origin(bodies[1], SLOW, 1);
    let (slow2, slow2_server) = origin(bodies[2], SLOW, 1);
    // Nothing listens here: the handler reports the error in its line.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let urls = [
        format!("http://{slow1}/one"),
        format!("http://{quick}/quick"),
        format!("http://{slow2}/two"),
        format!("http://{closed}/none"),
    ];

    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("GET /hash-all HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n", server.addr);
    for url in &urls {
        head.push_str(&format!("url: {url}\r\n"));
    }
    head.push_str("\r\n");
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();

    // Read as it comes, noting when the quick origin's line arrived.
    let quick_line = format!("{}: {}\n", urls[1], sha256_hex(bodies[0]));
    let mut response = Vec::new();
    let mut quick_seen = None;
    let mut buffer = [0; 4096];
    loop {
        let n = stream.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..n]);
        if quick_seen.is_none() && text(&response).contains(&quick_line) {
            quick_seen = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = text(&response[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let body = text(&dechunk_all(&response[split + 4..]));
    eprintln!("{body}(quick line after {quick_seen:?}, all after {total:?})");

    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 4, "{body}");
    // Results come in the order they complete: the refused and the quick
    // ones first, then the slow ones.
    let mut first_two = lines[..2].to_vec();
    first_two.sort();
    assert!(first_two.iter().any(|line| line.starts_with(&format!("{}: error: ", urls[3]))), "{body}");
    assert!(first_two.contains(&quick_line.trim_end()), "{body}");
    let mut slow_lines = lines[2..].to_vec();
    slow_lines.sort();
    let mut expected = [
        format!("{}: {}", urls[0], sha256_hex(bodies[1])),
        format!("{}: {}", urls[2], sha256_hex(bodies[2])),
    ];
    expected.sort();
    assert_eq!(slow_lines, expected);
    // Concurrent: both slow origins waited at once (sequentially: 4 s).
    assert!(total < SLOW * 2 - Duration::from_millis(300), "took {total:?}");
    // Streamed: the quick line reached the client before the slow ones
    // were done.
    let quick_seen = quick_seen.expect("quick line seen");
    assert!(quick_seen < SLOW, "the quick line came only after {quick_seen:?}");

    for origin in [quick_server, slow1_server, slow2_server] {
        origin.join().unwrap();
    }

    // POST /echo streams the body back through Stream and Sink.
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let payload = "echo me ".repeat(10_000);
    write!(
        stream,
        "POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = text(&response[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200") && head.contains("content-type: text/plain"), "{head}");
    assert_eq!(text(&dechunk_all(&response[split + 4..])), payload);
}

/// An HTTPS server of the test (rustls, the fixture certificate for
/// 127.0.0.1): answers each of `requests` TLS connections with `body`; a
/// connection whose handshake fails (the client did not trust the
/// certificate) counts too.
fn tls_origin(body: &'static [u8], requests: usize) -> (String, JoinHandle<()>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fixtures = repo().join("compiler/tests/fixtures/tls");
    let certificates = CertificateDer::pem_file_iter(fixtures.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixtures.join("server.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        for _ in 0..requests {
            let stream = accept_within(&listener, Duration::from_secs(60));
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            // A failed handshake ends the head early.
            if !read_head(&mut tls).starts_with(b"GET /") {
                continue;
            }
            respond(&mut tls, body);
            tls.conn.send_close_notify();
            tls.flush().unwrap();
        }
    });
    (addr, server)
}

/// `GET /hash-all` on the fanout server at `addr` for `urls`: the lines of
/// the response body.
fn hash_all(addr: &str, urls: &[String]) -> Vec<String> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("GET /hash-all HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for url in urls {
        head.push_str(&format!("url: {url}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(text(&response[..split]).starts_with("HTTP/1.1 200"), "{}", text(&response));
    text(&dechunk_all(&response[split + 4..])).lines().map(str::to_string).collect()
}

#[test]
fn https_requests_trust_the_roots_given_with_tls_ca_file() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("fanout.wasm");
    build_example("fanout", &wasm);
    let body: &'static [u8] = b"a body sent over TLS";

    // With the test CA trusted, the download goes through.
    let ca = repo().join("compiler/tests/fixtures/tls/ca.pem");
    let server = Server::start_with(&wasm, &["--timeout", "60s", "--tls-ca-file", ca.to_str().unwrap()]);
    let (origin, origin_server) = tls_origin(body, 1);
    let url = format!("https://{origin}/secret");
    assert_eq!(hash_all(&server.addr, &[url.clone()]), [format!("{url}: {}", sha256_hex(body))]);
    origin_server.join().unwrap();

    // Without it, the certificate is refused, and the guest is told so.
    let server = Server::start_with(&wasm, &["--timeout", "60s"]);
    let (origin, origin_server) = tls_origin(body, 1);
    let url = format!("https://{origin}/secret");
    let lines = hash_all(&server.addr, &[url.clone()]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("{url}: error: ")), "{lines:?}");
    assert!(lines[0].contains("TlsCertificateError"), "{lines:?}");
    origin_server.join().unwrap();
    let (_, stderr) = server.interrupt();
    assert!(stderr.contains("outgoing TLS handshake failed"), "{stderr}");

    // A file that holds no certificate is an error before serving.
    let output = compiler()
        .args(["serve", "--addr", "127.0.0.1:0", "--tls-ca-file"])
        .arg(repo().join("examples/fanout/app.py"))
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("holds no PEM certificate"), "{}", text(&output.stderr));
}
