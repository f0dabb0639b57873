//! Incremental rebuilds in the persistent worker: a rebuild after one module
//! of a many-module app changed reuses what depends only on unchanged inputs
//! (the world's bindings, the merged module, the compiled interpreter and
//! library, and the byte code of unchanged sources: `crate::bytecode`) and
//! gives the bytes of a one-shot build of the same inputs.
//! Needs the toolchain from `scripts/setup.sh`.

use prost::Message;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

mod common;
use common::compiler;
use common::protocol::{read_frame, WorkRequest, WorkResponse};

/// An app of `n` small modules under package `mods` plus `app.py`, and a
/// world with one export.
fn write_app(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("mods")).unwrap();
    std::fs::write(dir.join("mods/__init__.py"), "").unwrap();
    let mut app = String::new();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("mods/m{i}.py")),
            format!("import json\n\nVALUE = {i}\n\ndef show():\n    return json.dumps({{'m': VALUE}})\n"),
        )
        .unwrap();
        app.push_str(&format!("import mods.m{i}\n"));
    }
    app.push_str("\n\nclass WitWorld:\n    def hello(self, name):\n        return name + mods.m0.show()\n");
    std::fs::write(dir.join("app.py"), app).unwrap();
    std::fs::write(
        dir.join("hello.wit"),
        "package t:inc;\n\nworld hello {\n  export hello: func(name: string) -> string;\n}\n",
    )
    .unwrap();
}

fn args(out: &Path) -> Vec<String> {
    let mut args: Vec<String> =
        "-d hello.wit -w hello componentize app -p . -o".split(' ').map(String::from).collect();
    args.push(out.to_str().unwrap().to_string());
    args
}

/// Three requests to one worker: a build, a rebuild after `mods/m3.py`
/// changed, and a rebuild after it changed back. Each output equals a
/// one-shot build (fresh process) of the same files, byte for byte, and the
/// edited build differs from the first (the edit reached the component).
#[test]
fn worker_rebuild_after_an_edit_matches_one_shot() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write_app(&app, 12);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    let mut child = compiler()
        .arg("--persistent_worker")
        .current_dir(&app)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut worker_build = |id: i32| -> Vec<u8> {
        let path = out.join(format!("worker-{id}.wasm"));
        let request = WorkRequest { arguments: args(&path), request_id: id, ..WorkRequest::default() };
        stdin.write_all(&request.encode_length_delimited_to_vec()).unwrap();
        stdin.flush().unwrap();
        let response = WorkResponse::decode(read_frame(&mut stdout).expect("the worker's stdout ended").as_slice()).unwrap();
        assert_eq!((response.request_id, response.exit_code), (id, 0), "{}", response.output);
        std::fs::read(path).unwrap()
    };
    let one_shot = |name: &str| -> Vec<u8> {
        let path = out.join(name);
        let status = compiler().args(args(&path)).current_dir(&app).status().unwrap();
        assert!(status.success());
        std::fs::read(path).unwrap()
    };

    let module = app.join("mods/m3.py");
    let original = std::fs::read_to_string(&module).unwrap();
    let first = worker_build(1);
    assert!(first == one_shot("one-shot-1.wasm"), "first worker build differs from one-shot");

    std::fs::write(&module, original.replace("VALUE = 3", "VALUE = 333")).unwrap();
    let edited = worker_build(2);
    assert!(edited != first, "the edit did not change the component");
    assert!(edited == one_shot("one-shot-2.wasm"), "rebuild after an edit differs from one-shot");

    std::fs::write(&module, &original).unwrap();
    let back = worker_build(3);
    assert!(back == first, "rebuild after undoing the edit differs from the first build");

    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// `write_app` plus enough source for the byte-code pre-pass
/// (`bytecode::MIN_BYTES`): `mods/padding.py`, never imported, mostly
/// comments. `app.py` prints whether the pyc of `mods.m0` is where the
/// import looks for it (the mounted `__pycache__`).
fn write_big_app(dir: &Path, n: usize) {
    write_app(dir, n);
    let line = "# padding for the byte-code pre-pass, compiled but never imported\n";
    let mut padding = line.repeat(300 * 1024 / line.len());
    padding.push_str("VALUE = 1\n");
    std::fs::write(dir.join("mods/padding.py"), padding).unwrap();
    let app = std::fs::read_to_string(dir.join("app.py")).unwrap();
    std::fs::write(
        dir.join("app.py"),
        format!("import os\n{app}\nprint('pyc' if os.path.isfile(mods.m0.__cached__) else 'no pyc')\n"),
    )
    .unwrap();
}

/// The same with the byte-code pre-pass: one-shot builds compile every
/// source to byte code in pre-pass instances, the worker's rebuilds compile
/// only the edited (or new) sources and reuse the rest from memory; the
/// outputs are byte-identical, also after an edit that changes a module's
/// imports (a new module, imported by the edited one), and with one
/// rayon thread or two.
#[test]
fn worker_reuses_byte_code_and_matches_one_shot() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write_big_app(&app, 12);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let verbose = |out: &Path| -> Vec<String> {
        let mut args = vec!["-v".to_string()];
        args.extend(self::args(out));
        args
    };

    let mut child = compiler()
        .arg("--persistent_worker")
        .current_dir(&app)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut worker_build = |id: i32| -> (Vec<u8>, String) {
        let path = out.join(format!("worker-{id}.wasm"));
        let request = WorkRequest { arguments: verbose(&path), request_id: id, ..WorkRequest::default() };
        stdin.write_all(&request.encode_length_delimited_to_vec()).unwrap();
        stdin.flush().unwrap();
        let response = WorkResponse::decode(read_frame(&mut stdout).expect("the worker's stdout ended").as_slice()).unwrap();
        assert_eq!((response.request_id, response.exit_code), (id, 0), "{}", response.output);
        (std::fs::read(path).unwrap(), response.output)
    };
    let one_shot = |name: &str, threads: &str| -> (Vec<u8>, String) {
        let path = out.join(name);
        let output = compiler()
            .args(verbose(&path))
            .env("RAYON_NUM_THREADS", threads)
            .current_dir(&app)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{text}");
        (std::fs::read(path).unwrap(), text)
    };
    // 12 modules, the package, app.py, padding.py and the generated bindings.
    let compiled = |log: &str| -> (usize, usize) {
        let at = log.find("byte code (").unwrap_or_else(|| panic!("no byte-code pre-pass in:\n{log}"));
        let words: Vec<&str> = log[at + 11..].split(' ').collect();
        (words[0].parse().unwrap(), words[3].parse().unwrap())
    };

    let (first, log) = worker_build(1);
    assert!(log.contains("pyc\n") && !log.contains("no pyc"), "the pyc is not mounted:\n{log}");
    let (compiled_first, reused_first) = compiled(&log);
    assert!(compiled_first >= 15 && reused_first == 0, "{log}");
    let (one, log) = one_shot("one-shot-1.wasm", "1");
    assert!(first == one, "first worker build differs from one-shot");
    assert_eq!(compiled(&log), (compiled_first, 0), "{log}");
    assert!(first == one_shot("one-shot-1b.wasm", "2").0, "one-shot builds with 1 and 2 threads differ");

    // An edit that changes the imports: m3 imports a new module.
    let module = app.join("mods/m3.py");
    let original = std::fs::read_to_string(&module).unwrap();
    std::fs::write(app.join("mods/extra.py"), "EXTRA = 'extra'\n").unwrap();
    std::fs::write(&module, format!("from mods.extra import EXTRA\n{}", original.replace("VALUE = 3", "VALUE = EXTRA"))).unwrap();
    let (edited, log) = worker_build(2);
    assert!(edited != first, "the edit did not change the component");
    assert_eq!(compiled(&log), (2, compiled_first - 1), "only the edited and the new module are compiled:\n{log}");
    assert!(edited == one_shot("one-shot-2.wasm", "2").0, "rebuild after an edit differs from one-shot");

    std::fs::remove_file(app.join("mods/extra.py")).unwrap();
    std::fs::write(&module, &original).unwrap();
    let (back, log) = worker_build(3);
    assert_eq!(compiled(&log), (0, compiled_first), "everything is reused:\n{log}");
    assert!(back == first, "rebuild after undoing the edit differs from the first build");

    drop(stdin);
    assert!(child.wait().unwrap().success());
}
