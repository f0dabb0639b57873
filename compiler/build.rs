//! Bundles the WASI 0.2 and 0.3 WIT packages that the `wasmtime-wasi` and
//! `wasmtime-wasi-http` crates ship, so that worlds such as
//! `wasi:cli/command@0.2.0` or `wasi:http/service@0.3.0` resolve without the
//! user copying WIT files around. The files are read from the crate's source as Cargo
//! downloaded it (found through `cargo metadata`), never from the network.
//!
//! It also packs the toolchain into the binary (see [`embed_toolchain`]).
//!
//! `cargo metadata` is asked only about the target being built
//! (`--filter-platform`): `cargo build` downloads the packages of that
//! platform alone, so on a fresh cargo home the packages of other platforms
//! (Windows-only crates of the lock file) are not there, and an unfiltered
//! `cargo metadata --offline` would fail on them.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

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
    let wasi = crate_dir("wasmtime-wasi");
    let wasi_http = crate_dir("wasmtime-wasi-http");
    let p2 = wasi.join("src/p2/wit/deps");
    let p2_http = wasi_http.join("wit/deps");
    let p3 = wasi.join("src/p3/wit/deps");
    let p3_http = wasi_http.join("src/p3/wit/deps");
    // (file name in messages, folder, package) in dependency order: each
    // package only uses the ones before it. WASI 0.2 first, then WASI 0.3
    // (the crates' `p3` WIT), so the 0.2 packages keep the ids (and file
    // names) they had before 0.3 was bundled.
    let packages = [
        ("io.wit", &p2, "io"),
        ("clocks.wit", &p2, "clocks"),
        ("random.wit", &p2, "random"),
        ("filesystem.wit", &p2, "filesystem"),
        ("sockets.wit", &p2, "sockets"),
        ("cli.wit", &p2, "cli"),
        ("http.wit", &p2_http, "http"),
        ("p3/clocks.wit", &p3, "clocks"),
        ("p3/random.wit", &p3, "random"),
        ("p3/filesystem.wit", &p3, "filesystem"),
        ("p3/sockets.wit", &p3, "sockets"),
        ("p3/cli.wit", &p3, "cli"),
        ("p3/http.wit", &p3_http, "http"),
    ];
    let mut code = String::from(
        "/// WASI 0.2 and 0.3 WIT files from the `wasmtime-wasi` and\n\
         /// `wasmtime-wasi-http` crates, in dependency order (0.2 first).\n\
         pub const WASI_WIT: &[(&str, &str)] = &[\n",
    );
    for (file, dir, name) in packages {
        let path = dir.join(format!("{name}.wit"));
        assert!(path.exists(), "missing {}", path.display());
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!(
            "    ({file:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("wasi_wit.rs");
    fs::write(out, code).expect("writing wasi_wit.rs");
    println!("cargo:rerun-if-changed=build.rs");
    embed_toolchain(&manifest_dir);
}

/// Names the toolchain folder to embed (one holding `runtime/`), or `none`
/// to build a binary without one.
const EMBED_ENV: &str = "COMPONENTIZE_PY_EMBED_TOOLCHAIN";
/// zstd level of the embedded archive: level 9 packs the 17.8 MB toolchain
/// into about 4.1 MB in about a second; 19 saves another 0.6 MB for 30 s
/// more per build of the toolchain.
const ZSTD_LEVEL: i32 = 9;
/// First bytes of the uncompressed archive (`src/embedded.rs` reads it).
const ARCHIVE_MAGIC: &[u8] = b"componentize-py toolchain 1\n";

/// Pack the interpreter module and the stdlib (`runtime/` of the toolchain
/// folder that `scripts/setup.sh` makes) into `$OUT_DIR/toolchain.zst` and
/// write `$OUT_DIR/embedded_toolchain.rs` pointing at it.
///
/// The folder is `$COMPONENTIZE_PY_EMBED_TOOLCHAIN` if set (it must hold the
/// toolchain; `none` embeds nothing), else the checkout's `.toolchain/` if
/// set-up has built it. Without either the binary embeds nothing and needs
/// `--toolchain` (or a `.toolchain/` above it) at run time; cargo prints a
/// warning.
///
/// The archive is a sequence of entries in path order, each: path length
/// (u32 LE), the `/`-separated path relative to `runtime/`, an executable
/// flag (u8), the size (u64 LE) and the bytes; zstd-compressed as a whole.
/// Its SHA-256 names the folder it is unpacked into at run time.
fn embed_toolchain(manifest_dir: &Path) {
    println!("cargo:rerun-if-env-changed={EMBED_ENV}");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let code_path = out_dir.join("embedded_toolchain.rs");
    let explicit = env::var_os(EMBED_ENV).filter(|v| !v.is_empty());
    let dir = match &explicit {
        Some(v) if v == "none" => None,
        Some(v) => {
            let dir = PathBuf::from(v);
            if !dir.join("runtime/interpreter.wasm").is_file()
                || !dir.join("runtime/python/lib/python3.11").is_dir()
            {
                panic!(
                    "${EMBED_ENV}={}: no runtime/interpreter.wasm and runtime/python/lib/python3.11 \
                     there (run scripts/setup.sh, which builds them into .toolchain/)",
                    dir.display()
                );
            }
            Some(dir)
        }
        None => {
            let dir = manifest_dir.parent().unwrap().join(".toolchain");
            if dir.join("runtime/interpreter.wasm").is_file() {
                Some(dir)
            } else {
                println!(
                    "cargo:warning=no .toolchain/runtime (run scripts/setup.sh first): this \
                     componentize-py embeds no toolchain and needs --toolchain at run time"
                );
                None
            }
        }
    };
    let Some(dir) = dir else {
        fs::write(
            &code_path,
            "/// No toolchain was embedded at build time.\n\
             pub const EMBEDDED: Option<(&str, &[u8])> = None;\n",
        )
        .expect("writing embedded_toolchain.rs");
        return;
    };
    let runtime = dir.join("runtime");
    println!("cargo:rerun-if-changed={}", runtime.display());
    let mut files = Vec::new();
    collect_files(&runtime, "", &mut files);
    files.sort();
    let mut archive = ARCHIVE_MAGIC.to_vec();
    for rel in &files {
        let path = runtime.join(rel);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(&path).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false)
        };
        archive.extend_from_slice(&u32::try_from(rel.len()).unwrap().to_le_bytes());
        archive.extend_from_slice(rel.as_bytes());
        archive.push(u8::from(executable));
        archive.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        archive.extend_from_slice(&bytes);
    }
    let compressed = zstd::bulk::compress(&archive, ZSTD_LEVEL).expect("compressing the toolchain");
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&compressed).iter().map(|b| format!("{b:02x}")).collect()
    };
    let blob = out_dir.join("toolchain.zst");
    fs::write(&blob, &compressed).expect("writing toolchain.zst");
    fs::write(
        &code_path,
        format!(
            "/// The embedded toolchain: SHA-256 of the archive, and the archive\n\
             /// ({} files, {} bytes, {} compressed).\n\
             pub const EMBEDDED: Option<(&str, &[u8])> = Some(({hash:?}, include_bytes!({:?})));\n",
            files.len(),
            archive.len(),
            compressed.len(),
            blob.display().to_string()
        ),
    )
    .expect("writing embedded_toolchain.rs");
}

/// The regular files under `dir` (following symbolic links), as
/// `/`-separated paths prefixed with `prefix`; dot files at the top
/// (set-up's `.stamp`) are left out.
fn collect_files(dir: &Path, prefix: &str, files: &mut Vec<String>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("reading a directory entry");
        let name = entry.file_name().into_string().expect("a UTF-8 file name in the toolchain");
        if prefix.is_empty() && name.starts_with('.') {
            continue;
        }
        let rel = format!("{prefix}{name}");
        let meta = fs::metadata(entry.path()).expect("stat in the toolchain");
        if meta.is_dir() {
            collect_files(&entry.path(), &format!("{rel}/"), files);
        } else if meta.is_file() {
            files.push(rel);
        }
    }
}
