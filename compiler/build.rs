//! Bundles the WASI 0.2 WIT packages that the `wasmtime-wasi` crate ships, so
//! that worlds such as `wasi:cli/command` resolve without the user copying
//! WIT files around. The files are read from the crate's source as Cargo
//! downloaded it (found through `cargo metadata`), never from the network.
//!
//! `cargo metadata` is asked only about the target being built
//! (`--filter-platform`): `cargo build` downloads the packages of that
//! platform alone, so on a fresh cargo home the packages of other platforms
//! (Windows-only crates of the lock file) are not there, and an unfiltered
//! `cargo metadata --offline` would fail on them.

use std::{env, fs, path::PathBuf, process::Command};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = env::var("TARGET").expect("cargo sets TARGET for build scripts");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform"])
        .arg(&target)
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .output()
        .expect("running `cargo metadata`");
    assert!(
        output.status.success(),
        "`cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("parsing `cargo metadata` output");
    let crate_dir = |name: &str| -> PathBuf {
        let manifest = metadata["packages"]
            .as_array()
            .expect("packages array")
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["manifest_path"].as_str())
            .unwrap_or_else(|| panic!("{name} in the dependency graph"));
        PathBuf::from(manifest).parent().unwrap().to_path_buf()
    };
    let deps = crate_dir("wasmtime-wasi").join("src/p2/wit/deps");
    // wasi:http (same WASI version) ships with the `wasmtime-wasi-http` crate.
    let http_deps = crate_dir("wasmtime-wasi-http").join("wit/deps");

    // Dependency order: each package only uses the ones before it.
    let order = ["io", "clocks", "random", "filesystem", "sockets", "cli", "http"];
    let mut code = String::from(
        "/// WASI 0.2 WIT files from the `wasmtime-wasi` and `wasmtime-wasi-http`\n\
         /// crates, in dependency order.\n\
         pub const WASI_WIT: &[(&str, &str)] = &[\n",
    );
    for name in order {
        let dir = if name == "http" { &http_deps } else { &deps };
        let path = dir.join(format!("{name}.wit"));
        assert!(path.exists(), "missing {}", path.display());
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!(
            "    (\"{name}.wit\", include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("wasi_wit.rs");
    fs::write(out, code).expect("writing wasi_wit.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
