//! Imports at run time: modules first imported when an export is called
//! (inside a function), never while the component was built, in each
//! `--bundle` mode; and real PyPI packages installed with
//! `pip install --target`, passed with `-p`.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{compiler, componentize_py, repo, text};

/// Build `app` from `dir` (`-d wit` if given, `-p .` plus `extra_path`)
/// with `args` into `out`.
fn build(dir: &Path, wit: Option<&str>, app: &str, extra_path: Option<&Path>, args: &[&str], out: &Path) {
    let mut all = match wit {
        Some(wit) => vec!["-d", wit],
        None => vec![],
    };
    all.extend(["componentize", app, "-p", "."]);
    if let Some(extra) = extra_path {
        all.extend(["-p", extra.to_str().unwrap()]);
    }
    all.extend(args);
    all.extend(["-o", out.to_str().unwrap()]);
    let output = componentize_py(dir, &all);
    assert!(output.status.success(), "build failed: {}", text(&output.stderr));
}

/// Call the export `call(what)`; Ok(result in WAVE) or Err(stderr).
fn call(wasm: &Path, what: &str) -> Result<String, String> {
    let output = compiler()
        .args(["run", "--invoke", &format!("call({what:?})"), wasm.to_str().unwrap()])
        .output()
        .unwrap();
    if output.status.success() {
        Ok(text(&output.stdout).trim().to_string())
    } else {
        Err(text(&output.stderr))
    }
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

struct Built {
    _tmp: tempfile::TempDir,
    wasm: PathBuf,
}

fn imports_component(args: &[&str]) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("imports.wasm");
    build(&repo().join("tests/fixtures/imports"), Some("imports.wit"), "app", None, args, &wasm);
    Built { _tmp: tmp, wasm }
}

#[test]
fn reachable_modules_import_at_run_time() {
    let built = imports_component(&[]); // --bundle reachable is the default
    let wasm = &built.wasm;
    assert_eq!(call(wasm, "json").unwrap(), r#""{\"a\": [1, 2]}""#);
    assert_eq!(call(wasm, "helper").unwrap(), r#""hello from mypkg.helper""#);
    assert_eq!(call(wasm, "relative").unwrap(), r#""mypkg.sub.deep via mypkg.helper""#);
    // A codec that C code imports by name.
    assert_eq!(call(wasm, "utf-16").unwrap(), r#""e900""#);
    // Codecs named only by a string constant in the app's code.
    assert_eq!(call(wasm, "codecs").unwrap(), r#""b6 bcher-kva""#);
    // Imported by computed name: not found, an ordinary ImportError.
    assert_eq!(call(wasm, "csv").unwrap(), r#""ImportError: No module named \'csv\'""#);

    let bundled = call(wasm, "bundled").unwrap();
    let names: Vec<&str> = bundled.trim_matches('"').split(',').collect();
    // (`importlib`, which `call` also imports, is not among them: the
    // runtime's `componentize_py_types` imports `dataclasses`, and with it
    // `importlib`, while building, so it is in the snapshot already.)
    for expected in [
        "json",
        "json.decoder",
        "json.encoder",
        "mypkg.helper",
        "mypkg.sub.deep",
        "encodings.iso8859_5",
        "encodings.punycode",
    ] {
        assert!(names.contains(&expected), "{expected} not bundled: {names:?}");
    }
    // Imports under `if TYPE_CHECKING:` are for type checkers only; modules
    // imported while building are in the snapshot already; `csv` is named
    // by no import statement.
    for absent in ["mypkg.typing_only", "typing", "wit_world", "csv", "importlib._bootstrap"] {
        assert!(!names.contains(&absent), "{absent} bundled: {names:?}");
    }
}

#[test]
fn imported_mode_bundles_only_named_packages() {
    let built = imports_component(&["--bundle", "imported"]);
    // The module was not imported while building: ModuleNotFoundError, with
    // the traceback, and the call traps.
    let stderr = call(&built.wasm, "json").unwrap_err();
    assert!(stderr.contains("Traceback"), "{stderr}");
    assert!(stderr.contains("ModuleNotFoundError: No module named 'json'"), "{stderr}");
    assert!(stderr.contains("wasm trap"), "{stderr}");

    let named = imports_component(&["--bundle", "imported", "--bundle-package", "json", "--bundle-package", "mypkg"]);
    assert_eq!(call(&named.wasm, "json").unwrap(), r#""{\"a\": [1, 2]}""#);
    assert_eq!(call(&named.wasm, "relative").unwrap(), r#""mypkg.sub.deep via mypkg.helper""#);
    // A package comes with all its submodules, whether imported or not.
    let bundled = call(&named.wasm, "bundled").unwrap();
    assert!(bundled.contains("mypkg.typing_only"), "{bundled}");
    assert!(bundled.contains("json.tool"), "{bundled}");
}

#[test]
fn all_mode_carries_the_stdlib_and_sizes_grow_with_the_mode() {
    let all = imports_component(&["--bundle", "all"]);
    assert_eq!(call(&all.wasm, "csv").unwrap(), r#""imported csv""#);
    assert_eq!(call(&all.wasm, "email.mime.text").unwrap(), r#""imported email.mime.text""#);

    let imported = imports_component(&["--bundle", "imported"]);
    let reachable = imports_component(&[]);
    let (imported, reachable, all) = (size(&imported.wasm), size(&reachable.wasm), size(&all.wasm));
    eprintln!("sizes: imported {imported}, reachable {reachable}, all {all}");
    assert!(imported < reachable && reachable < all, "{imported} {reachable} {all}");
    // `reachable` costs little (json and a few codecs here), `all` a lot.
    assert!(reachable - imported < 500_000, "{imported} {reachable}");
    assert!(all - imported > 5_000_000, "{imported} {all}");
}

#[test]
fn bundle_package_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.wasm");
    let fixture = repo().join("tests/fixtures/imports");
    let run = |args: &[&str]| {
        let mut all = vec!["-d", "imports.wit", "componentize", "app", "-o", out.to_str().unwrap()];
        all.extend(args);
        componentize_py(&fixture, &all)
    };
    let output = run(&["--bundle-package", "no_such_package"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("no module named 'no_such_package'"), "{stderr}");
    assert!(!out.exists(), "a failed build left its output");

    let output = run(&["--bundle-package", "not-a-name"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("`not-a-name` is not a Python module name"));

    let output = run(&["--bundle", "everything"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("unknown bundle mode `everything`"));
}

/// `pip install --target DIR` of the wheels that scripts/setup.sh fetched
/// (tests/fixtures/deps/requirements.txt: attrs and idna from PyPI).
fn pip_install_target(dir: &Path) {
    let wheels = repo().join(".toolchain/wheels");
    assert!(
        wheels.join(".done").is_file(),
        "{} is missing: run scripts/setup.sh",
        wheels.display()
    );
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target"])
        .arg(dir)
        .arg("--find-links")
        .arg(&wheels)
        .args(["--require-hashes", "-r"])
        .arg(repo().join("tests/fixtures/deps/requirements.txt"))
        .status()
        .unwrap();
    assert!(status.success(), "pip install --target failed");
    assert!(dir.join("idna/__init__.py").is_file() && dir.join("attrs/__init__.py").is_file());
}

#[test]
fn pip_target_dependencies_import_at_build_and_run_time() {
    let tmp = tempfile::tempdir().unwrap();
    let deps = tmp.path().join("deps");
    pip_install_target(&deps);
    let fixture = repo().join("tests/fixtures/deps");

    let wasm = tmp.path().join("deps.wasm");
    build(&fixture, Some("deps.wit"), "app", Some(&deps), &[], &wasm);
    // idna was imported while building; attrs is imported the first time
    // when the export runs.
    assert_eq!(call(&wasm, "idna").unwrap(), r#""xn--bcher-kva.example""#);
    assert_eq!(
        call(&wasm, "attrs").unwrap(),
        r#""Point(x=3, y=0) {\'x\': 1, \'y\': 2}""#
    );

    // Without the bundle, as in upstream componentize-py, the run-time
    // import fails.
    let bare = tmp.path().join("bare.wasm");
    build(&fixture, Some("deps.wit"), "app", Some(&deps), &["--bundle", "imported"], &bare);
    let stderr = call(&bare, "attrs").unwrap_err();
    assert!(stderr.contains("ModuleNotFoundError: No module named 'attrs'"), "{stderr}");
}

#[test]
fn bundled_components_are_byte_identical_across_checkouts() {
    // The bundle is compiled inside the deterministic interpreter from the
    // guest paths: a copy of the sources elsewhere gives the same bytes.
    let a = imports_component(&["--bundle-package", "email"]);
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("elsewhere/imports");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(repo().join("tests/fixtures/imports"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let b = tmp.path().join("b.wasm");
    build(&copy, Some("imports.wit"), "app", None, &["--bundle-package", "email"], &b);
    assert!(std::fs::read(&a.wasm).unwrap() == std::fs::read(&b).unwrap(), "outputs differ");
}

/// Run `--invoke` calls; the printed results.
fn invoke(wasm: &Path, calls: &[&str]) -> String {
    let mut command = compiler();
    command.arg("run");
    for call in calls {
        command.args(["--invoke", call]);
    }
    let output = command.arg(wasm).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn componentize_py_toml_of_a_dependency_brings_its_wit_and_names() {
    // tests/fixtures/sdk/deps/greeter_sdk carries componentize-py.toml:
    // its WIT world, the bindings at greeter_sdk/bindings (shadowing the
    // placeholder there, which raises), and module names for one import
    // and one export.
    let fixture = repo().join("tests/fixtures/sdk");
    let tmp = tempfile::tempdir().unwrap();

    // No -d: the dependency's world is the component's.
    let deps = Some(Path::new("deps"));
    let wasm = tmp.path().join("sdk.wasm");
    build(&fixture, None, "app", deps, &[], &wasm);
    assert_eq!(invoke(&wasm, &[r#"greet("x")"#]), "\"Hi, x (clock ok)\"\n");

    // With the app's own world: the dependency's world is merged into it.
    let merged = tmp.path().join("merged.wasm");
    build(&fixture, Some("app.wit"), "app", deps, &[], &merged);
    assert_eq!(
        invoke(&merged, &[r#"greet("y")"#, "hello()"]),
        "\"Hi, y (clock ok)\"\n\"hello, and the SDK exports Greeting\"\n"
    );

    // The app's WIT includes the dependency's world and carries its package
    // in deps/: the package is loaded once, not twice.
    let included = tmp.path().join("included.wasm");
    build(&fixture, Some("app-wit"), "app", deps, &[], &included);
    assert_eq!(
        invoke(&included, &[r#"greet("z")"#, "hello()"]),
        "\"Hi, z (clock ok)\"\n\"hello, and the SDK exports Greeting\"\n"
    );
}

/// One dependency setting `bindings`, as upstream 0.25.1: the app's package
/// stays `wit_world` (or `--world-module`'s, with its class `Tests`) and the
/// SDK imports its bindings from `greeter_sdk.bindings`, the same classes.
/// Upstream-style apps, written here.
#[test]
fn one_sdk_with_bindings_leaves_the_world_module_to_the_app() {
    let fixture = repo().join("tests/fixtures/sdk");
    let deps = fixture.join("deps");
    let tmp = tempfile::tempdir().unwrap();
    for (module, class, args) in [("wit_world", "WitWorld", vec![]), ("tests", "Tests", vec!["--world-module", "tests"])] {
        let dir = tmp.path().join(module);
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(fixture.join("app.wit"), dir.join("app.wit")).unwrap();
        let app = format!(
            "import {module}\n\
             from {module} import exports\n\
             from greeter_sdk import GreeterBase\n\
             from greeter_sdk.bindings import exports as sdk_exports\n\n\
             class Greeting(GreeterBase):\n    salutation = \"Hey\"\n\n\
             class {class}({module}.{class}):\n    def hello(self) -> str:\n        \
             return f\"{module}: same classes {{exports.Greeting is sdk_exports.Greeting}}\"\n"
        );
        std::fs::write(dir.join("app.py"), app).unwrap();
        let wasm = tmp.path().join(format!("{module}.wasm"));
        build(&dir, Some("app.wit"), "app", Some(&deps), &args, &wasm);
        assert_eq!(
            invoke(&wasm, &[r#"greet("x")"#, "hello()"]),
            format!("\"Hey, x (clock ok)\"\n\"{module}: same classes True\"\n"),
            "{module}"
        );
    }
}
