//! `componentize-py serve` with `examples/http` (a `wasi:http/proxy`
//! component): the real binary serves real HTTP/1.1 on a loopback port, and
//! a plain `TcpStream` client checks the answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{compiler, componentize_py, repo, text, Server};

/// Build `examples/http` into `out`.
fn build_http(out: &Path) {
    let output = componentize_py(
        &repo().join("examples/http"),
        &["-d", "wit", "-w", "http", "componentize", "app", "-o", out.to_str().unwrap()],
    );
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
}

/// One HTTP/1.1 request on a new connection (`Connection: close`); returns
/// the status code and the body.
fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    parse_response(&response)
}

/// Status code and body of a complete response with a `content-length`.
fn parse_response(response: &[u8]) -> (u16, Vec<u8>) {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", text(response)));
    let head = text(&response[..split]);
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no content-length in {head:?}"));
    let body = response[split + 4..].to_vec();
    assert_eq!(body.len(), length, "body length differs from content-length");
    (status, body)
}

#[test]
fn serve_answers_routes_and_survives_exceptions() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("http.wasm");
    build_http(&wasm);
    let server = Server::start(&wasm);
    let addr = server.addr.clone();

    let (status, body) = request(&addr, "GET", "/", b"");
    assert_eq!((status, text(&body).as_str()), (200, "Hello from a Python wasi:http component!\n"));

    let (status, body) = request(&addr, "POST", "/echo/this?x=1", b"some body bytes");
    assert_eq!((status, text(&body).as_str()), (200, "POST /echo/this?x=1\nsome body bytes"));

    // A body larger than one stream read and one 4096-byte write.
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (status, body) = request(&addr, "POST", "/big", &big);
    assert_eq!(status, 200);
    assert_eq!(body[..10], *b"POST /big\n");
    assert!(body[10..] == big[..], "the echoed body differs");

    let (status, body) = request(&addr, "GET", "/missing", b"");
    assert_eq!((status, text(&body).as_str()), (404, "not found: GET /missing\n"));
    let (status, body) = request(&addr, "DELETE", "/", b"");
    assert_eq!((status, text(&body).as_str()), (404, "not found: DELETE /\n"));

    // A Python exception: 500 for the client, the traceback on stderr ...
    let (status, body) = request(&addr, "GET", "/fail", b"");
    assert_eq!((status, text(&body).as_str()), (500, "Internal Server Error\n"));
    // ... and the server goes on serving.
    let (status, _) = request(&addr, "GET", "/", b"");
    assert_eq!(status, 200);

    // Several requests at once, each in its own instance.
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || request(&addr, "POST", &format!("/{i}"), format!("n={i}").as_bytes()))
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let (status, body) = client.join().unwrap();
        assert_eq!((status, text(&body)), (200, format!("POST /{i}\nn={i}")));
    }

    let started = Instant::now();
    let (status, stderr) = server.interrupt();
    eprintln!("--- server stderr\n{stderr}");
    assert!(status.success(), "serve exited with {status} after Ctrl-C");
    assert!(started.elapsed() < Duration::from_secs(10), "shutdown took {:?}", started.elapsed());
    assert!(stderr.contains("Traceback (most recent call last):"), "{stderr}");
    assert!(stderr.contains("RuntimeError: this handler fails on purpose"), "{stderr}");
    assert!(stderr.contains("GET /fail"), "{stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
}

#[test]
fn serve_timeout_stops_a_runaway_handler() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("http.wasm");
    build_http(&wasm);
    let server = Server::start_with(&wasm, &["--timeout", "1s"]);
    let addr = server.addr.clone();
    // GET /spin loops forever: stopped after 1 s, answered with 500.
    let started = Instant::now();
    let (status, _) = request(&addr, "GET", "/spin", b"");
    let took = started.elapsed();
    assert_eq!(status, 500);
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(10), "took {took:?}");
    // Other requests are served as before, within the limit.
    let (status, body) = request(&addr, "GET", "/", b"");
    assert_eq!((status, text(&body).as_str()), (200, "Hello from a Python wasi:http component!\n"));
    let (status, stderr) = server.interrupt();
    assert!(status.success());
    assert!(stderr.contains("GET /spin"), "{stderr}");
    assert!(stderr.contains("ran longer than --timeout 1s"), "{stderr}");
}

#[test]
fn serve_refuses_a_component_without_incoming_handler() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("hello.wasm");
    let output = componentize_py(
        &repo().join("examples/hello"),
        &["-d", "hello.wit", "-w", "hello", "componentize", "app", "-p", ".", "-o", wasm.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = compiler()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(&wasm)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("does not export `wasi:http/incoming-handler`"), "{stderr}");
}
