//! Helpers shared by the end-to-end test files: where the repository is,
//! and running the real `componentize-py` binary.
//!
//! Each test file includes this with `mod common;`; not every file uses
//! every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
