//! Persistent-worker tests: the real binary with `--persistent_worker`,
//! driven over pipes with length-delimited protobuf messages. Needs the
//! toolchain from `scripts/setup.sh`.

use prost::Message;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Bazel's `blaze.worker.WorkRequest` (without `inputs`, which the worker
/// ignores), field numbers as in `worker_protocol.proto`.
#[derive(Clone, PartialEq, Message)]
struct WorkRequest {
    #[prost(string, repeated, tag = "1")]
    arguments: Vec<String>,
    #[prost(int32, tag = "3")]
    request_id: i32,
    #[prost(bool, tag = "4")]
    cancel: bool,
    #[prost(string, tag = "6")]
    sandbox_dir: String,
}

/// Bazel's `blaze.worker.WorkResponse`.
#[derive(Clone, PartialEq, Message)]
struct WorkResponse {
    #[prost(int32, tag = "1")]
    exit_code: i32,
    #[prost(string, tag = "2")]
    output: String,
    #[prost(int32, tag = "3")]
    request_id: i32,
    #[prost(bool, tag = "4")]
    was_cancelled: bool,
}

/// How long to wait for one response before failing the test.
const TIMEOUT: Duration = Duration::from_secs(120);

fn hello_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello")
}

fn compiler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_componentize-py"))
}

/// Arguments building examples/hello (run in that folder) into `out`.
fn hello_args(out: &Path) -> Vec<String> {
    let mut args: Vec<String> = "-d hello.wit -w hello componentize app -p . -o"
        .split(' ')
        .map(String::from)
        .collect();
    args.push(out.to_str().unwrap().to_string());
    args
}

/// Arguments writing the bindings of examples/hello into `dir`.
fn bindings_args(dir: &Path) -> Vec<String> {
    [
        "-d",
        "hello.wit",
        "-w",
        "hello",
        "bindings",
        dir.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn request(id: i32, arguments: Vec<String>) -> WorkRequest {
    WorkRequest {
        arguments,
        request_id: id,
        ..WorkRequest::default()
    }
}

/// A worker process started in examples/hello; a thread decodes its
/// responses into `responses`.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    responses: Receiver<WorkResponse>,
}

impl Worker {
    fn start() -> Worker {
        let mut child = compiler()
            .arg("--persistent_worker")
            .current_dir(hello_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().unwrap();
        let (sender, responses) = mpsc::channel();
        std::thread::spawn(move || {
            while let Some(frame) = read_frame(&mut stdout) {
                let response = WorkResponse::decode(frame.as_slice())
                    .expect("the worker wrote something other than a WorkResponse");
                if sender.send(response).is_err() {
                    return;
                }
            }
        });
        Worker {
            child,
            stdin,
            responses,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, request: &WorkRequest) {
        self.send_raw(&request.encode_length_delimited_to_vec());
    }

    fn receive(&self) -> WorkResponse {
        let response = self.responses.recv_timeout(TIMEOUT).expect("no response");
        eprintln!(
            "response {}: exit {}\n{}",
            response.request_id, response.exit_code, response.output
        );
        response
    }

    /// Close stdin and wait for the worker to exit; returns its status and
    /// the responses it still wrote.
    fn finish(mut self) -> (ExitStatus, Vec<WorkResponse>) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        (status, self.responses.iter().collect())
    }
}

/// Read one length-delimited message; `None` at the end of input.
fn read_frame(input: &mut impl Read) -> Option<Vec<u8>> {
    let mut length = 0usize;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        if input.read(&mut byte).unwrap() == 0 {
            assert_eq!(shift, 0, "stdout ended inside a length");
            return None;
        }
        length |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let mut frame = vec![0; length];
    input
        .read_exact(&mut frame)
        .expect("stdout ended inside a response");
    Some(frame)
}

/// Ids 1 and 2 are built concurrently (2 through an @flagfile); both match
/// a one-shot build byte for byte, and so does the text they print.
#[test]
fn multiplexed_builds_match_one_shot() {
    let tmp = tempfile::tempdir().unwrap();
    let outs: Vec<PathBuf> = ["one-shot", "w1", "w2"]
        .iter()
        .map(|dir| {
            std::fs::create_dir(tmp.path().join(dir)).unwrap();
            tmp.path().join(dir).join("hello.wasm")
        })
        .collect();

    let mut worker = Worker::start();
    worker.send(&request(1, hello_args(&outs[1])));
    let flagfile = tmp.path().join("args.txt");
    std::fs::write(&flagfile, hello_args(&outs[2]).join("\n") + "\n").unwrap();
    worker.send(&request(2, vec![format!("@{}", flagfile.display())]));

    let one_shot = compiler()
        .args(hello_args(&outs[0]))
        .current_dir(hello_dir())
        .output()
        .unwrap();
    let one_shot_text = String::from_utf8(one_shot.stderr).unwrap();
    assert!(one_shot.status.success(), "{one_shot_text}");
    let expected = std::fs::read(&outs[0]).unwrap();

    let mut responses = vec![worker.receive(), worker.receive()];
    responses.sort_by_key(|response| response.request_id);
    for (response, (id, out)) in responses.iter().zip([(1, &outs[1]), (2, &outs[2])]) {
        assert_eq!(response.request_id, id);
        assert_eq!(response.exit_code, 0, "{}", response.output);
        assert!(!response.was_cancelled);
        assert!(
            std::fs::read(out).unwrap() == expected,
            "request {id}: the component differs"
        );
        let text = response
            .output
            .replace(&*out.to_string_lossy(), &outs[0].to_string_lossy());
        assert_eq!(text, one_shot_text, "request {id}: the output differs");
    }
    let (status, rest) = worker.finish();
    assert!(status.success());
    assert!(rest.is_empty(), "unexpected responses: {rest:?}");
}

/// `@FILE` arguments work in one-shot mode and in requests (singleplex,
/// relative to `sandbox_dir` when it is set).
#[test]
fn flagfiles_in_one_shot_and_worker_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let args_file = tmp.path().join("args.txt");
    std::fs::write(
        &args_file,
        bindings_args(&tmp.path().join("one-shot")).join("\n"),
    )
    .unwrap();
    let output = compiler()
        .arg(format!("@{}", args_file.display()))
        .current_dir(hello_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = std::fs::read(tmp.path().join("one-shot/wit_world/__init__.py")).unwrap();

    let mut worker = Worker::start();
    std::fs::write(
        &args_file,
        bindings_args(&tmp.path().join("worker")).join("\n"),
    )
    .unwrap();
    worker.send(&request(0, vec![format!("@{}", args_file.display())]));
    let response = worker.receive();
    assert_eq!(
        (response.request_id, response.exit_code),
        (0, 0),
        "{}",
        response.output
    );
    let written = std::fs::read(tmp.path().join("worker/wit_world/__init__.py")).unwrap();
    assert!(written == expected);

    // With a sandbox, the flagfile, WIT path and output folder are taken
    // from it.
    let sandbox = tmp.path().join("sandbox");
    std::fs::create_dir(&sandbox).unwrap();
    std::fs::copy(hello_dir().join("hello.wit"), sandbox.join("hello.wit")).unwrap();
    std::fs::write(
        sandbox.join("params"),
        bindings_args(Path::new("out")).join("\n"),
    )
    .unwrap();
    worker.send(&WorkRequest {
        sandbox_dir: sandbox.to_str().unwrap().to_string(),
        ..request(5, vec!["@params".to_string()])
    });
    let response = worker.receive();
    assert_eq!(
        (response.request_id, response.exit_code),
        (5, 0),
        "{}",
        response.output
    );
    assert!(std::fs::read(sandbox.join("out/wit_world/__init__.py")).unwrap() == expected);

    worker.send(&request(0, vec!["@missing.txt".to_string()]));
    let response = worker.receive();
    assert_eq!(response.exit_code, 1);
    assert!(
        response
            .output
            .contains("reading the arguments file `missing.txt`"),
        "{}",
        response.output
    );
    assert!(worker.finish().0.success());
}

/// Undecodable messages, bad command lines and `run` get error responses;
/// the worker goes on serving.
#[test]
fn bad_requests_get_error_responses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut worker = Worker::start();

    // Field 1 (a string) claims 5 bytes but the message holds 1.
    worker.send_raw(&[3, 0x0a, 0x05, b'a']);
    let response = worker.receive();
    assert_ne!(response.exit_code, 0);
    assert!(
        response.output.contains("malformed WorkRequest"),
        "{}",
        response.output
    );

    worker.send(&request(0, vec!["--no-such-flag".to_string()]));
    let response = worker.receive();
    assert_eq!(response.exit_code, 2);
    assert!(
        response
            .output
            .contains("unexpected argument '--no-such-flag'"),
        "{}",
        response.output
    );

    worker.send(&request(3, vec!["run".into(), "x.wasm".into()]));
    let response = worker.receive();
    assert_eq!((response.request_id, response.exit_code), (3, 1));
    assert!(
        response.output.contains("not available in worker mode"),
        "{}",
        response.output
    );

    worker.send(&request(
        0,
        vec![
            "-d".into(),
            "nope.wit".into(),
            "bindings".into(),
            "out".into(),
        ],
    ));
    let response = worker.receive();
    assert_eq!(response.exit_code, 1);
    assert!(
        response.output.starts_with("error: "),
        "{}",
        response.output
    );

    worker.send(&request(4, bindings_args(tmp.path())));
    let response = worker.receive();
    assert_eq!(
        (response.request_id, response.exit_code),
        (4, 0),
        "{}",
        response.output
    );
    assert!(tmp.path().join("wit_world/__init__.py").is_file());

    let (status, rest) = worker.finish();
    assert!(status.success());
    assert!(rest.is_empty(), "unexpected responses: {rest:?}");
}

/// A request cancelled right after it was sent is answered once, with
/// `was_cancelled`, and writes nothing; a cancel for an unknown id is
/// ignored.
#[test]
fn cancelled_request_is_answered_as_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("hello.wasm");
    let mut worker = Worker::start();
    worker.send(&request(7, hello_args(&out)));
    let cancel = |id| WorkRequest {
        cancel: true,
        ..request(id, Vec::new())
    };
    worker.send(&cancel(7));
    worker.send(&cancel(99));

    let response = worker.receive();
    assert_eq!(response.request_id, 7);
    assert!(response.was_cancelled, "{response:?}");
    let (status, rest) = worker.finish();
    assert!(status.success());
    assert!(rest.is_empty(), "unexpected responses: {rest:?}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "a cancelled build left files: {left:?}");
}

/// End of input, also inside a message, ends the worker with status 0 and
/// no output.
#[test]
fn end_of_input_ends_the_worker() {
    let worker = Worker::start();
    let (status, rest) = worker.finish();
    assert!(status.success());
    assert!(rest.is_empty());

    let mut worker = Worker::start();
    worker.send_raw(&[10, 0x0a]);
    let (status, rest) = worker.finish();
    assert!(status.success());
    assert!(rest.is_empty());
}
