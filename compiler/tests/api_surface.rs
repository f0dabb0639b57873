//! The generated Python API against upstream componentize-py 0.25.1's: both
//! tools run `bindings` on every test world (tests/fixtures, examples, and
//! so `wasi:cli/command` and `wasi:http/proxy`), and
//! `tests/api_surface/surface.py` compares the public surfaces read with
//! `ast` (modules; class, function, parameter and field names; annotations
//! resolved to where each name is defined; enum and flags members). Every
//! difference fails unless `tests/api_surface/allowed.txt` lists it (the
//! README's "Migrating from componentize-py" gives the reasons).
//!
//! Upstream comes from PyPI, installed once into `target/upstream-venv`
//! (with mypy, for the second test: upstream-style app code type-checked
//! against our bindings).

mod common;

use common::{copy_dir, componentize_py, repo, text};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The upstream release the API must match.
const UPSTREAM: &str = "componentize-py==0.25.1";

/// A venv holding upstream componentize-py and mypy, made once per target
/// folder. Returns its `bin/` folder.
fn upstream_venv() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf();
    let venv = target.join("upstream-venv");
    let bin = venv.join("bin");
    let ready = venv.join(".installed");
    if std::fs::read_to_string(&ready).is_ok_and(|s| s.trim() == UPSTREAM) {
        return bin;
    }
    // Tests of this file may run at once: one installs, under a lock file.
    std::fs::create_dir_all(&target).unwrap();
    let lock = std::fs::File::create(target.join("upstream-venv.lock")).unwrap();
    lock.lock().unwrap();
    if std::fs::read_to_string(&ready).is_ok_and(|s| s.trim() == UPSTREAM) {
        return bin;
    }
    let status = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().unwrap();
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", UPSTREAM, "mypy"])
        .status()
        .unwrap();
    assert!(status.success(), "pip install {UPSTREAM} mypy failed");
    std::fs::write(&ready, UPSTREAM).unwrap();
    bin
}

/// A copy of `dir` (a folder or one WIT file's folder) in `work`, with the
/// WASI WIT packages the compiler bundles put in `deps/` of its WIT folder
/// `wit` (upstream bundles none of 0.2.12), so that both tools read the same
/// files.
fn with_wasi_deps(source: &Path, wit: &str, work: &Path) -> PathBuf {
    let dir = work.join(source.file_name().unwrap());
    copy_dir(source, &dir);
    let deps = dir.join(wit).join("deps");
    std::fs::create_dir_all(&deps).unwrap();
    for (file, contents) in componentize_py::wit::WASI_WIT {
        // WASI 0.2 only: the compared worlds use it, and with 0.3 beside it
        // a world name without a version would be ambiguous to upstream.
        if file.starts_with("p3/") {
            continue;
        }
        std::fs::write(deps.join(file), contents).unwrap();
    }
    dir
}

/// Every world the comparison covers: (label, folder, arguments before
/// `bindings`).
fn worlds(work: &Path) -> Vec<(String, PathBuf, Vec<String>)> {
    let fixtures = repo().join("tests/fixtures");
    let examples = repo().join("examples");
    let strings = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut worlds = vec![
        ("hello".into(), examples.join("hello"), strings(&["-d", "hello.wit"])),
        // Upstream's world class rule: `--world-module tests` -> `Tests`.
        ("hello --world-module tests".into(), examples.join("hello"), strings(&["-d", "hello.wit", "--world-module", "tests"])),
        ("kv".into(), examples.join("kv"), strings(&["-d", "wit"])),
        ("sandbox".into(), examples.join("sandbox"), strings(&["-d", "sandbox.wit", "-w", "sandbox"])),
        ("types".into(), fixtures.join("types"), strings(&["-d", "types.wit", "-w", "types"])),
        ("resources".into(), fixtures.join("resources"), strings(&["-d", "resources.wit"])),
        ("naming".into(), fixtures.join("naming"), strings(&["-d", "naming.wit"])),
        ("naming --full-names".into(), fixtures.join("naming"), strings(&["-d", "naming.wit", "--full-names"])),
        (
            "naming, custom names".into(),
            fixtures.join("naming"),
            strings(&[
                "-d", "naming.wit", "--world-module", "my_world",
                "--import-interface-name", "foo:a/api@1.0.0=alpha",
                "--export-interface-name", "test:naming/api=beta",
            ]),
        ),
        ("imports".into(), fixtures.join("imports"), strings(&["-d", "imports.wit"])),
        ("deps".into(), fixtures.join("deps"), strings(&["-d", "deps.wit"])),
        ("merge one+two".into(), fixtures.join("merge"), strings(&["-d", "merge.wit", "-w", "one", "-w", "two", "--all-features"])),
        ("errors/hello".into(), fixtures.join("errors"), strings(&["-d", "hello.wit"])),
        ("errors/checker".into(), fixtures.join("errors"), strings(&["-d", "checker.wit"])),
        ("sdk app".into(), fixtures.join("sdk"), strings(&["-d", "app.wit"])),
    ];
    // Worlds using WASI: wasi:cli/command (examples/cli), wasi:http/proxy
    // (examples/http). (The SDK fixtures' worlds import WASI 0.2.0, which
    // only our resolver maps to the 0.2.12 packages.)
    let cli = with_wasi_deps(&examples.join("cli"), "wit", work);
    worlds.push(("wasi:cli/command (examples/cli)".into(), cli, strings(&["-d", "wit", "-w", "cli"])));
    let http = with_wasi_deps(&examples.join("http"), "wit", work);
    worlds.push(("wasi:http/proxy (examples/http)".into(), http, strings(&["-d", "wit", "-w", "http"])));
    worlds
}

#[test]
fn python_api_matches_upstream_0_25_1() {
    let bin = upstream_venv();
    let tmp = tempfile::tempdir().unwrap();
    let surface = repo().join("tests/api_surface/surface.py");
    let allowed = repo().join("tests/api_surface/allowed.txt");
    let mut failures = Vec::new();
    let mut report = String::new();
    for (index, (label, dir, args)) in worlds(tmp.path()).into_iter().enumerate() {
        let theirs = tmp.path().join(format!("upstream{index}"));
        let ours = tmp.path().join(format!("ours{index}"));
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.push("bindings");
        let output = Command::new(bin.join("componentize-py"))
            .current_dir(&dir)
            .args(&all)
            .arg(&theirs)
            .output()
            .unwrap();
        assert!(output.status.success(), "upstream bindings for {label}: {}", text(&output.stderr));
        let output = componentize_py(&dir, &[all.as_slice(), &[ours.to_str().unwrap()]].concat());
        assert!(output.status.success(), "our bindings for {label}: {}", text(&output.stderr));
        let output = Command::new("python3")
            .arg(&surface)
            .arg("--compare")
            .args([&theirs, &ours, &allowed])
            .output()
            .unwrap();
        let shown = format!("== {label} ({})\n{}{}", args.join(" "), text(&output.stdout), text(&output.stderr));
        report.push_str(&shown);
        if !output.status.success() {
            failures.push(shown);
        }
    }
    eprintln!("{report}");
    assert!(failures.is_empty(), "API differences from upstream:\n{}", failures.join("\n"));
}

/// Apps written in upstream's style (`tests/api_surface/typed/`, fully
/// annotated: `componentize_py_types`, `Shape_Circle`, classmethods, `with`)
/// and examples/cli-p3, http-p3 and tcp-p3 (async, streams, futures,
/// wasi:http@0.3 and wasi:sockets@0.3) pass `mypy --strict` against our
/// bindings.
#[test]
fn upstream_style_apps_pass_mypy_strict_against_our_bindings() {
    let bin = upstream_venv();
    let tmp = tempfile::tempdir().unwrap();
    let typed = repo().join("tests/api_surface/typed");
    let fixtures = repo().join("tests/fixtures");
    let cli_p3 = repo().join("examples/cli-p3");
    let http_p3 = repo().join("examples/http-p3");
    let tcp_p3 = repo().join("examples/tcp-p3");
    // (the app, the folder holding its WIT, the arguments)
    let cases = [
        (typed.join("types_app.py"), fixtures.join("types"), vec!["-d", "types.wit", "-w", "types"]),
        (typed.join("resources_app.py"), fixtures.join("resources"), vec!["-d", "resources.wit"]),
        // WASI 0.3: async `run`, streams and futures, and the async support
        // package with the runtime stub's async functions.
        (cli_p3.join("app.py"), cli_p3.clone(), vec!["-d", "cli.wit", "-w", "cli"]),
        (http_p3.join("app.py"), http_p3.clone(), vec!["-d", "http.wit", "-w", "http"]),
        (tcp_p3.join("app.py"), tcp_p3.clone(), vec!["-d", "tcp.wit", "-w", "tcp"]),
    ];
    let mut failures = Vec::new();
    for (index, (source, dir, args)) in cases.into_iter().enumerate() {
        let out = tmp.path().join(format!("out{index}"));
        let all = [args.as_slice(), &["bindings", out.to_str().unwrap()]].concat();
        let output = componentize_py(&dir, &all);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let app = source.file_name().unwrap().to_str().unwrap();
        std::fs::copy(&source, out.join(app)).unwrap();
        let output = Command::new(bin.join("python"))
            .args(["-m", "mypy", "--strict", "--no-incremental", "--cache-dir", "/dev/null", app])
            .current_dir(&out)
            .env("MYPYPATH", &out)
            .output()
            .unwrap();
        if !output.status.success() {
            failures.push(format!("mypy --strict {app}:\n{}{}", text(&output.stdout), text(&output.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `componentize_py_types` behaves at run time as upstream's: real
/// dataclasses (`is_dataclass`, `fields`, `asdict`, `replace`), `Err`
/// frozen (`FrozenInstanceError`), equality, hashing, pickling, and `Err` as
/// an exception. `tests/api_surface/types_behaviour.py` prints the behaviour
/// of each module, loaded with host Python; the two must be equal.
#[test]
fn componentize_py_types_behaves_as_upstreams_at_run_time() {
    let bin = upstream_venv();
    let tmp = tempfile::tempdir().unwrap();
    let hello = repo().join("examples/hello");
    let theirs = tmp.path().join("upstream");
    let ours = tmp.path().join("ours");
    let output = Command::new(bin.join("componentize-py"))
        .current_dir(&hello)
        .args(["-d", "hello.wit", "bindings"])
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(output.status.success(), "upstream bindings: {}", text(&output.stderr));
    let output = componentize_py(&hello, &["-d", "hello.wit", "bindings", ours.to_str().unwrap()]);
    assert!(output.status.success(), "our bindings: {}", text(&output.stderr));
    let probe = repo().join("tests/api_surface/types_behaviour.py");
    let behaviour = |dir: &Path| {
        let output = Command::new("python3").arg(&probe).arg(dir).output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let (theirs, ours) = (behaviour(&theirs), behaviour(&ours));
    assert!(theirs.contains("Err assign: raises dataclasses.FrozenInstanceError"), "{theirs}");
    assert_eq!(theirs, ours, "componentize_py_types behaves differently from upstream's");
}
