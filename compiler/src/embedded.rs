//! The toolchain carried inside the binary: the interpreter module and the
//! pruned stdlib, packed and zstd-compressed by `build.rs` (which documents
//! the archive format).
//!
//! Pre-initialisation mounts the stdlib as a folder, so the archive is
//! unpacked once into the compile cache folder (`toolchain-<hash>/`, the
//! hash being the archive's SHA-256) and reused by every later build of the
//! same binary; the folder is filled under a temporary name and renamed into
//! place, so concurrent first builds are safe and a crash leaves no
//! half-written toolchain behind. Without a usable cache folder it is
//! unpacked into a temporary folder that lives as long as the [`Unpacked`].

use anyhow::{bail, ensure, Context, Result};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/embedded_toolchain.rs"));

/// First bytes of the uncompressed archive (the same as in `build.rs`).
const ARCHIVE_MAGIC: &[u8] = b"componentize-py toolchain 1\n";
/// Written last into an unpacked folder; holds the archive's hash.
const COMPLETE_MARKER: &str = ".complete";
/// Unpacked toolchains kept in the cache folder (older binaries' ones go
/// first, least recently used first).
const CACHE_KEEP: usize = 3;

/// An unpacked embedded toolchain.
#[derive(Clone, Debug)]
pub struct Unpacked {
    /// The toolchain folder (it holds `runtime/`).
    pub dir: PathBuf,
    /// The temporary folder to remove when the last clone is dropped, when
    /// the toolchain could not be unpacked into the cache folder.
    pub temporary: Option<Arc<tempfile::TempDir>>,
}

/// Whether this binary carries a toolchain.
pub fn is_embedded() -> bool {
    EMBEDDED.is_some()
}

/// The embedded toolchain, unpacked (or found already unpacked) in the cache
/// folder, else in a temporary folder; `None` when the binary carries none.
pub fn unpack() -> Result<Option<Unpacked>> {
    let Some((hash, archive)) = EMBEDDED else {
        return Ok(None);
    };
    if let Some(cache) = crate::preinit::cache_dir() {
        let dir = cache.join(format!("toolchain-{}", &hash[..16]));
        let marker = dir.join(COMPLETE_MARKER);
        if std::fs::read_to_string(&marker).is_ok_and(|h| h == hash) {
            crate::preinit::cache_touch(&marker);
            return Ok(Some(Unpacked { dir, temporary: None }));
        }
        // A cache folder that cannot be written is not an error: fall back
        // to a temporary folder.
        if unpack_into_cache(&cache, &dir, hash, archive).is_ok() {
            return Ok(Some(Unpacked { dir, temporary: None }));
        }
    }
    let temporary = tempfile::Builder::new()
        .prefix("componentize-py-toolchain-")
        .tempdir()
        .context("creating a temporary folder for the embedded toolchain")?;
    // Without a cache the precompiled interpreter is not used (it counts
    // as cached code, see `crate::preinit`): 20 MB not written per build.
    let precompiled = format!("{}/", crate::preinit::PRECOMPILED_SUBDIR);
    unpack_files(archive, temporary.path(), |path| !path.starts_with(&precompiled))?;
    Ok(Some(Unpacked {
        dir: temporary.path().to_path_buf(),
        temporary: Some(Arc::new(temporary)),
    }))
}

/// Unpack into a temporary folder of `cache` and rename it to `dir`.
fn unpack_into_cache(cache: &Path, dir: &Path, hash: &str, archive: &[u8]) -> Result<()> {
    std::fs::create_dir_all(cache)?;
    let staging = tempfile::Builder::new().prefix(".toolchain-").tempdir_in(cache)?;
    unpack_to(archive, staging.path())?;
    std::fs::write(staging.path().join(COMPLETE_MARKER), hash)?;
    // An incomplete folder of a crashed older version is in the way.
    if dir.exists() && !dir.join(COMPLETE_MARKER).is_file() {
        let _ = std::fs::remove_dir_all(dir);
    }
    let staging = staging.keep();
    if let Err(err) = std::fs::rename(&staging, dir) {
        let _ = std::fs::remove_dir_all(&staging);
        // Another process was faster: its folder is as good as ours.
        if !dir.join(COMPLETE_MARKER).is_file() {
            return Err(err.into());
        }
    }
    evict(cache, dir);
    Ok(())
}

/// Keep at most [`CACHE_KEEP`] unpacked toolchains in `cache`, never `keep`.
fn evict(cache: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else { return };
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|p| p != keep)
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("toolchain-")))
        .filter_map(|p| Some((std::fs::metadata(p.join(COMPLETE_MARKER)).ok()?.modified().ok()?, p)))
        .collect();
    if dirs.len() >= CACHE_KEEP {
        dirs.sort();
        for (_, old) in &dirs[..dirs.len() + 1 - CACHE_KEEP] {
            let _ = std::fs::remove_dir_all(old);
        }
    }
}

/// Decompress `archive` and write its files under `dest/runtime/`.
pub fn unpack_to(archive: &[u8], dest: &Path) -> Result<()> {
    unpack_files(archive, dest, |_| true)
}

/// [`unpack_to`] for the files whose path below `runtime/` `keep` accepts.
fn unpack_files(archive: &[u8], dest: &Path, keep: impl Fn(&str) -> bool) -> Result<()> {
    let bytes = zstd::stream::decode_all(archive).context("decompressing the embedded toolchain")?;
    let runtime = dest.join("runtime");
    let entries: Vec<Entry> = entries(&bytes)?.into_iter().filter(|entry| keep(entry.path)).collect();
    let files: Vec<(PathBuf, &[u8])> = entries.iter().map(|entry| (runtime.join(entry.path), entry.data)).collect();
    crate::parallel_write::write_files(&files)?;
    for entry in entries.iter().filter(|entry| entry.executable) {
        use std::os::unix::fs::PermissionsExt;
        let path = runtime.join(entry.path);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making `{}` executable", path.display()))?;
    }
    Ok(())
}

/// One file of the archive.
struct Entry<'a> {
    path: &'a str,
    executable: bool,
    data: &'a [u8],
}

/// The files of an uncompressed archive, checked to stay inside the folder.
fn entries(bytes: &[u8]) -> Result<Vec<Entry<'_>>> {
    let mut rest = bytes
        .strip_prefix(ARCHIVE_MAGIC)
        .context("the embedded toolchain is not an archive of this version")?;
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let len_bytes = take(&mut rest, 4)?;
        let len = u32::from_le_bytes(len_bytes.try_into()?) as usize;
        let path = std::str::from_utf8(take(&mut rest, len)?).context("a file name in the embedded toolchain")?;
        if path.is_empty() || !Path::new(path).components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("the embedded toolchain holds a file outside its folder: `{path}`");
        }
        let executable = take(&mut rest, 1)?[0] != 0;
        let size = u64::from_le_bytes(take(&mut rest, 8)?.try_into()?);
        let data = take(&mut rest, usize::try_from(size)?)?;
        entries.push(Entry { path, executable, data });
    }
    Ok(entries)
}

/// The first `n` bytes of `rest`, which moves past them.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    ensure!(rest.len() >= n, "the embedded toolchain archive is truncated");
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, bool, &[u8])]) -> Vec<u8> {
        let mut raw = ARCHIVE_MAGIC.to_vec();
        for (path, executable, data) in files {
            raw.extend_from_slice(&(path.len() as u32).to_le_bytes());
            raw.extend_from_slice(path.as_bytes());
            raw.push(u8::from(*executable));
            raw.extend_from_slice(&(data.len() as u64).to_le_bytes());
            raw.extend_from_slice(data);
        }
        zstd::bulk::compress(&raw, 3).unwrap()
    }

    #[test]
    fn unpacks_files_under_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let blob = archive(&[("interpreter.wasm", true, &b"\0asm"[..]), ("python/lib/python3.11/os.py", false, &b"x = 1\n"[..])]);
        unpack_to(&blob, dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("runtime/interpreter.wasm")).unwrap(), b"\0asm");
        assert_eq!(
            std::fs::read(dir.path().join("runtime/python/lib/python3.11/os.py")).unwrap(),
            b"x = 1\n"
        );
    }

    #[test]
    fn unpacks_only_the_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let blob = archive(&[("interpreter.wasm", false, &b"\0asm"[..]), ("precompiled/k.cwasm", false, &b"code"[..])]);
        unpack_files(&blob, dir.path(), |path| !path.starts_with("precompiled/")).unwrap();
        assert!(dir.path().join("runtime/interpreter.wasm").is_file());
        assert!(!dir.path().join("runtime/precompiled").exists());
    }

    #[test]
    fn rejects_paths_leaving_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let blob = archive(&[("../evil", false, &b""[..])]);
        let err = unpack_to(&blob, dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("outside its folder"), "{err:#}");
    }

    #[test]
    fn rejects_truncated_archives() {
        let mut raw = ARCHIVE_MAGIC.to_vec();
        raw.extend_from_slice(&5u32.to_le_bytes());
        raw.extend_from_slice(b"ab");
        let blob = zstd::bulk::compress(&raw, 3).unwrap();
        let err = unpack_to(&blob, tempfile::tempdir().unwrap().path()).unwrap_err();
        assert!(format!("{err:#}").contains("truncated"), "{err:#}");
    }
}
