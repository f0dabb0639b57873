//! Incremental rebuilds in the persistent worker: a rebuild after one module
//! of a many-module app changed reuses what depends only on unchanged inputs
//! (the world's bindings, the merged module, the compiled interpreter and
//! library) and gives the bytes of a one-shot build of the same inputs.
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
