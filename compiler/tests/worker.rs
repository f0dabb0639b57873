//! Persistent-worker tests: the real binary with `--persistent_worker`,
//! driven over pipes with length-delimited protobuf messages. Needs the
//! toolchain from `scripts/setup.sh`.

use prost::Message;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

mod common;
use common::protocol::{read_frame, WorkRequest, WorkResponse};

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
        Worker::start_with(&[])
    }

    /// A worker with `startup` arguments besides `--persistent_worker`.
    fn start_with(startup: &[&str]) -> Worker {
        let mut child = compiler()
            .arg("--persistent_worker")
            .args(startup)
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

/// A folder with examples/hello's WIT and an app whose import never ends.
fn endless_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(hello_dir().join("hello.wit"), dir.path().join("hello.wit")).unwrap();
    std::fs::write(dir.path().join("app.py"), "while True:\n    pass\n").unwrap();
    dir
}

/// Arguments building `dir`'s app into `out`, with absolute paths.
fn app_args(dir: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["-d".into(), dir.join("hello.wit").to_str().unwrap().into()];
    args.extend(["-w", "hello", "componentize", "app", "-p"].map(String::from));
    args.push(dir.to_str().unwrap().into());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-o".to_string(), out.to_str().unwrap().to_string()]);
    args
}

/// A cancel reaches a build inside pre-initialisation (an app whose import
/// never ends): it is answered as cancelled within a second and writes
/// nothing.
#[test]
fn cancel_stops_a_build_inside_preinitialisation() {
    let app = endless_app();
    let tmp = tempfile::tempdir().unwrap();
    let mut worker = Worker::start();
    // First a build that compiles the interpreter (not interruptible), so
    // that the next one reaches the app's import quickly.
    let out = tmp.path().join("hello.wasm");
    worker.send(&request(4, hello_args(&out)));
    let response = worker.receive();
    assert_eq!(response.exit_code, 0, "{}", response.output);

    worker.send(&request(3, app_args(app.path(), &tmp.path().join("x.wasm"), &[])));
    // Long enough to be spinning in the app's import.
    std::thread::sleep(Duration::from_secs(3));
    let sent = std::time::Instant::now();
    worker.send(&WorkRequest { cancel: true, ..request(3, Vec::new()) });
    let response = worker.receive();
    let took = sent.elapsed();
    assert_eq!(response.request_id, 3);
    assert!(response.was_cancelled, "{response:?}");
    assert!(took < Duration::from_secs(1), "the cancel took {took:?}");
    let (status, rest) = worker.finish();
    assert!(status.success() && rest.is_empty());
    assert!(!tmp.path().join("x.wasm").exists());
}

/// With `--worker-max-builds 1`, a burst of requests runs one build at a
/// time: three builds that each stop at a 1 s import limit finish about a
/// second apart, not together; each gets the time-limit error.
#[test]
fn worker_runs_a_bounded_number_of_builds_at_once() {
    let app = endless_app();
    let tmp = tempfile::tempdir().unwrap();
    let mut worker = Worker::start_with(&["--worker-max-builds", "1"]);
    let start = std::time::Instant::now();
    for id in 1..=3 {
        let out = tmp.path().join(format!("{id}.wasm"));
        worker.send(&request(id, app_args(app.path(), &out, &["--import-timeout", "1s"])));
    }
    let mut finished = Vec::new();
    for _ in 0..3 {
        let response = worker.receive();
        assert_eq!(response.exit_code, 1);
        assert!(response.output.contains("import time limit of 1 s"), "{}", response.output);
        finished.push(start.elapsed());
    }
    let (status, _) = worker.finish();
    assert!(status.success());
    assert!(
        finished[2] - finished[0] >= Duration::from_millis(1800),
        "the builds overlapped: finished at {finished:?}"
    );

    // A bad value is refused at start.
    let output = compiler()
        .args(["--persistent_worker", "--worker-max-builds", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--worker-max-builds"));
}
