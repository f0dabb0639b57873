//! Network helpers of the tests that talk HTTP or TCP to components on
//! loopback: accepting with a limit, origin servers, reading responses.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::text;

/// The next connection to `listener`, waiting at most `limit`; reads on it
/// time out after 30 s.
pub fn accept_within(listener: &TcpListener, limit: Duration) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                return stream;
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no connection within {limit:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => panic!("accept: {error}"),
        }
    }
}

/// An HTTP request's head (up to and including the blank line), read a
/// byte at a time so that nothing of the body is consumed; shorter if the
/// peer closes first.
pub fn read_head(stream: &mut impl Read) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            // End of stream, or an error (a failed TLS handshake).
            _ => break,
        }
    }
    head
}

/// A `200 OK` response carrying `body`, then the end of the connection.
pub fn respond(stream: &mut impl Write, body: &[u8]) {
    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

/// A plain-HTTP server of the test on loopback: answers each of `requests`
/// connections to any `GET` path, after `delay`, with `body`.
pub fn origin(body: &'static [u8], delay: Duration, requests: usize) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        for _ in 0..requests {
            let mut stream = accept_within(&listener, Duration::from_secs(60));
            let head = read_head(&mut stream);
            assert!(head.starts_with(b"GET /"), "{}", text(&head));
            std::thread::sleep(delay);
            respond(&mut stream, body);
        }
    });
    (addr, server)
}

/// The decoded chunks at the start of a chunked HTTP/1.1 body, and whether
/// the last (empty) chunk was among them.
pub fn dechunk(mut body: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size = usize::from_str_radix(text(&body[..line_end]).trim(), 16).expect("chunk size");
        if size == 0 {
            return (out, true);
        }
        let Some(chunk) = body.get(line_end + 2..line_end + 2 + size) else {
            return (out, false);
        };
        out.extend_from_slice(chunk);
        body = body.get(line_end + 4 + size..).unwrap_or_default();
    }
}

/// The whole body of a chunked HTTP/1.1 response (panics if it ends early).
pub fn dechunk_all(body: &[u8]) -> Vec<u8> {
    let (out, complete) = dechunk(body);
    assert!(complete, "the chunked body ends before its last chunk: {}", text(body));
    out
}

/// One request on a new connection; returns the status line and the body
/// (de-chunked when the response is chunked).
pub fn request(addr: &str, head: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", text(&response)));
    let head = text(&response[..split]).to_ascii_lowercase();
    let status = head.lines().next().unwrap_or_default().to_string();
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk_all(&body);
    }
    (status, body)
}

/// The SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
