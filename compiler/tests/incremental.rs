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

/// A compile cache folder of its own in `dir`, so that pycs of other runs
/// (`crate::bytecode`'s on-disk cache) do not change what a build compiles,
/// seeded with the compiled interpreter of the usual cache folder (hard
/// links, else copies; none if there is none) so that no build compiles it.
fn private_cache(dir: &Path, name: &str) -> std::path::PathBuf {
    let cache = dir.join(name);
    std::fs::create_dir_all(&cache).unwrap();
    let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    let shared = nonempty("COMPONENTIZE_PY_CACHE_DIR")
        .or_else(|| nonempty("XDG_CACHE_HOME").map(|d| d.join("componentize-py")))
        .or_else(|| nonempty("HOME").map(|d| d.join(".cache/componentize-py")));
    if let Some(entries) = shared.and_then(|shared| std::fs::read_dir(shared).ok()) {
        for entry in entries.flatten() {
            let from = entry.path();
            if from.extension().is_some_and(|ext| ext == "cwasm") {
                let to = cache.join(entry.file_name());
                if std::fs::hard_link(&from, &to).is_err() {
                    let _ = std::fs::copy(&from, &to);
                }
            }
        }
    }
    cache
}

/// The numbers of `byte code (N sources compiled, M reused)` in a `-v` log.
fn byte_code_counts(log: &str) -> (usize, usize) {
    let at = log.find("byte code (").unwrap_or_else(|| panic!("no byte-code pre-pass in:\n{log}"));
    let words: Vec<&str> = log[at + 11..].split(' ').collect();
    (words[0].parse().unwrap(), words[3].parse().unwrap())
}

/// `args` with `-v` first.
fn verbose(out: &Path) -> Vec<String> {
    let mut args = vec!["-v".to_string()];
    args.extend(self::args(out));
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
    // Pycs of earlier runs on disk would be reused.
    let cache = private_cache(dir.path(), "cache");

    // The worker's temporary folders (the mounted pycs, kept between builds)
    // are gone when it exits.
    let worker_tmp = dir.path().join("worker-tmp");
    std::fs::create_dir(&worker_tmp).unwrap();
    let mut child = compiler()
        .arg("--persistent_worker")
        .env("COMPONENTIZE_PY_CACHE_DIR", &cache)
        .env("TMPDIR", &worker_tmp)
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
    let one_shot = |name: &str, threads: &str, cache: &Path| -> (Vec<u8>, String) {
        let path = out.join(name);
        let output = compiler()
            .args(verbose(&path))
            .env("RAYON_NUM_THREADS", threads)
            .env("COMPONENTIZE_PY_CACHE_DIR", cache)
            .current_dir(&app)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{text}");
        (std::fs::read(path).unwrap(), text)
    };
    // 12 modules, the package, app.py, padding.py and the generated bindings.
    let compiled = byte_code_counts;

    let (first, log) = worker_build(1);
    assert!(log.contains("pyc\n") && !log.contains("no pyc"), "the pyc is not mounted:\n{log}");
    let (compiled_first, reused_first) = compiled(&log);
    assert!(compiled_first >= 15 && reused_first == 0, "{log}");
    // A one-shot build with a cache folder of its own compiles everything.
    let (one, log) = one_shot("one-shot-1.wasm", "1", &private_cache(dir.path(), "cache-1"));
    assert!(first == one, "first worker build differs from one-shot");
    assert_eq!(compiled(&log), (compiled_first, 0), "{log}");
    let (two, log) = one_shot("one-shot-1b.wasm", "2", &private_cache(dir.path(), "cache-2"));
    assert!(first == two, "one-shot builds with 1 and 2 threads differ");
    assert_eq!(compiled(&log), (compiled_first, 0), "{log}");
    // With the worker's cache folder, it reuses what the worker compiled.
    let (three, log) = one_shot("one-shot-1c.wasm", "1", &cache);
    assert!(first == three, "a one-shot build with the pycs on disk differs");
    assert_eq!(compiled(&log), (0, compiled_first), "{log}");

    // An edit that changes the imports: m3 imports a new module.
    let module = app.join("mods/m3.py");
    let original = std::fs::read_to_string(&module).unwrap();
    std::fs::write(app.join("mods/extra.py"), "EXTRA = 'extra'\n").unwrap();
    std::fs::write(&module, format!("from mods.extra import EXTRA\n{}", original.replace("VALUE = 3", "VALUE = EXTRA"))).unwrap();
    let (edited, log) = worker_build(2);
    assert!(edited != first, "the edit did not change the component");
    assert_eq!(compiled(&log), (2, compiled_first - 1), "only the edited and the new module are compiled:\n{log}");
    assert!(edited == one_shot("one-shot-2.wasm", "2", &cache).0, "rebuild after an edit differs from one-shot");

    std::fs::remove_file(app.join("mods/extra.py")).unwrap();
    std::fs::write(&module, &original).unwrap();
    let (back, log) = worker_build(3);
    assert_eq!(compiled(&log), (0, compiled_first), "everything is reused:\n{log}");
    assert!(back == first, "rebuild after undoing the edit differs from the first build");
    let (again, _) = worker_build(4);
    assert!(again == first, "a rebuild with nothing changed differs");

    drop(stdin);
    assert!(child.wait().unwrap().success());
    let left: Vec<_> = std::fs::read_dir(&worker_tmp).unwrap().flatten().map(|entry| entry.file_name()).collect();
    assert!(left.is_empty(), "the worker left temporary files: {left:?}");
}

/// One-shot builds keep the pre-pass's pycs in the compile cache folder
/// (`bytecode::disk`), and the folders they mount (`bytecode::tree`): a
/// second build of the same app compiles no source
/// and writes the same bytes as the first, as a build with the cache off
/// (`COMPONENTIZE_PY_NO_CACHE`), and as one whose cached pycs are damaged
/// (read as missing: the build compiles again and succeeds). After an edit
/// to one module, only that module is compiled.
#[test]
fn one_shot_builds_reuse_byte_code_from_the_cache_folder() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write_big_app(&app, 12);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let cache = private_cache(dir.path(), "cache");
    let build = |name: &str, no_cache: bool| -> (Vec<u8>, String) {
        let path = out.join(name);
        let mut command = compiler();
        command.args(verbose(&path)).env("COMPONENTIZE_PY_CACHE_DIR", &cache).current_dir(&app);
        if no_cache {
            command.env("COMPONENTIZE_PY_NO_CACHE", "1");
        }
        let output = command.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{text}");
        (std::fs::read(path).unwrap(), text)
    };
    let bundles = || -> Vec<std::path::PathBuf> {
        let mut found: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "pycs"))
            .collect();
        found.sort();
        found
    };

    // The mounted pyc folders kept for the next build (`bytecode::tree`),
    // and what else is in their folder (nothing, once builds are done).
    let trees = || -> (Vec<std::ffi::OsString>, Vec<std::ffi::OsString>) {
        let mut found: Vec<_> =
            std::fs::read_dir(cache.join("pyc-trees")).unwrap().flatten().map(|entry| entry.file_name()).collect();
        found.sort();
        found.into_iter().partition(|name| !name.to_string_lossy().starts_with('.'))
    };

    let (first, log) = build("1.wasm", false);
    let (all, reused) = byte_code_counts(&log);
    assert!(all >= 15 && reused == 0, "{log}");
    assert_eq!(bundles().len(), 1, "one file for all the pycs");
    let (kept, other) = trees();
    assert!(kept.len() == 1 && other.is_empty(), "{kept:?} {other:?}");
    let (second, log) = build("2.wasm", false);
    assert_eq!(byte_code_counts(&log), (0, all), "the second build compiles nothing:\n{log}");
    assert!(first == second, "the second one-shot build differs from the first");
    assert_eq!(trees(), (kept.clone(), Vec::new()), "the second build mounts the first's folders");
    let (off, log) = build("3.wasm", true);
    assert_eq!(byte_code_counts(&log), (all, 0), "{log}");
    assert!(first == off, "a build with the cache off differs");

    // A damaged bundle is no error: everything is compiled again.
    let bundle = &bundles()[0];
    let mut bytes = std::fs::read(bundle).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(bundle, &bytes).unwrap();
    let (damaged, log) = build("4.wasm", false);
    assert_eq!(byte_code_counts(&log), (all, 0), "{log}");
    assert!(first == damaged, "a build after damage to the cache differs");

    // An edit: only the edited module is compiled; the same bytes as with
    // the cache off.
    let module = app.join("mods/m3.py");
    let original = std::fs::read_to_string(&module).unwrap();
    std::fs::write(&module, original.replace("VALUE = 3", "VALUE = 333")).unwrap();
    let (edited, log) = build("5.wasm", false);
    assert_eq!(byte_code_counts(&log), (1, all - 1), "{log}");
    assert_eq!(trees().0.len(), 2, "a second tree for the edited pycs");
    assert!(edited != first, "the edit did not change the component");
    assert!(edited == build("6.wasm", true).0, "a build after an edit differs from one with the cache off");
}
