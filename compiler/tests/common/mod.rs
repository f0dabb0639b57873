//! Helpers shared by the end-to-end test files: where the repository is,
//! and running the real `componentize-py` binary.
//!
//! Each test file includes this with `mod common;`; not every file uses
//! every helper.
#![allow(dead_code)]

pub mod net;
pub mod protocol;
pub mod streams;

use std::path::{Path, PathBuf};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// The repository root (the folder above `compiler/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The compiler binary under test. `VIRTUAL_ENV` is removed (a venv's
/// site-packages would join every build's python path, as upstream); the
/// tests of that set it themselves.
pub fn compiler() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_componentize-py"));
    command.env_remove("VIRTUAL_ENV");
    command
}

/// Process output as text (lossy UTF-8).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run the compiler in `dir` with `args`; returns its output, which is also
/// echoed to the test's stderr (shown when the test fails).
pub fn componentize_py(dir: &Path, args: &[&str]) -> Output {
    let output = compiler().current_dir(dir).args(args).output().unwrap();
    eprintln!(
        "componentize-py {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// A running `serve`; killed if the test ends without stopping it.
pub struct Server {
    child: Option<Child>,
    /// The address it listens on (`127.0.0.1:PORT`).
    pub addr: String,
}

impl Server {
    /// Start `serve --addr 127.0.0.1:0` and read the address it prints.
    pub fn start(wasm: &Path) -> Server {
        Server::start_with(wasm, &[])
    }

    /// The same with more options.
    pub fn start_with(wasm: &Path, options: &[&str]) -> Server {
        let mut child = compiler()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(options)
            .arg(wasm)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("Serving HTTP on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server {
            child: Some(child),
            addr,
        }
    }

    /// Send SIGINT (what Ctrl-C sends) and return the exit status and stderr.
    pub fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        let child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        (output.status, text(&output.stderr))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Upstream componentize-py 0.25.1's source distribution, unpacked once per
/// target folder by `scripts/lib/upstream_sdist.py` (from the package index
/// pip is configured with, sha256 checked). Its `examples/`, `wit/` and
/// `src/test/` are upstream's own apps, which must build and run unchanged
/// with us. Returns the unpacked folder.
pub fn upstream_sdist() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf();
    let dest = target.join("upstream-sdist");
    // Tests may ask at once: one fetches, under a lock file.
    std::fs::create_dir_all(&target).unwrap();
    let lock = std::fs::File::create(target.join("upstream-sdist.lock")).unwrap();
    lock.lock().unwrap();
    let output = Command::new("python3")
        .arg(repo().join("scripts/lib/upstream_sdist.py"))
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "scripts/lib/upstream_sdist.py failed:\n{}",
        text(&output.stderr)
    );
    PathBuf::from(text(&output.stdout).trim())
}

/// Copy the folder `from` to `to` (created), recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
