//! Bundles the WASI 0.2 WIT packages that the `wasmtime-wasi` crate ships, so
//! that worlds such as `wasi:cli/command` resolve without the user copying
//! WIT files around. The files are read from the crate's source as Cargo
//! downloaded it (found through `cargo metadata`), never from the network.

use std::{env, fs, path::PathBuf, process::Command};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--manifest-path"])
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
    let wasi_manifest = metadata["packages"]
        .as_array()
        .expect("packages array")
        .iter()
        .find(|p| p["name"] == "wasmtime-wasi")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("wasmtime-wasi in the dependency graph");
    let deps = PathBuf::from(wasi_manifest)
        .parent()
        .unwrap()
        .join("src/p2/wit/deps");

    // Dependency order: each package only uses the ones before it.
    let order = ["io", "clocks", "random", "filesystem", "sockets", "cli"];
    let mut code = String::from(
        "/// WASI 0.2 WIT files from the `wasmtime-wasi` crate, in dependency order.\n\
         pub const WASI_WIT: &[(&str, &str)] = &[\n",
    );
    for name in order {
        let path = deps.join(format!("{name}.wit"));
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
