//! The byte-code pre-pass: the app's Python sources compiled to byte code
//! before the app's import, outside the instance that is snapshotted.
//!
//! Without it, CPython compiles every module the app imports from source
//! inside the one instance that pre-initialisation snapshots, on one core,
//! and a worker compiles all of them again after an edit to one. With it:
//!
//! 1. [`sources`] lists the `.py` files that the import system could load
//!    from the `-p` folders, the bindings folder and the bindings mounts
//!    (importable names only, at most [`MAX_FILES`]). Under
//!    [`MIN_BYTES`] of source in all, there is no pre-pass (a small app
//!    would pay an interpreter start-up for little), so small apps build
//!    exactly as before.
//! 2. Each source not in the process's memo ([`CODE`], keyed by SHA-256 of
//!    the interpreter's identity, the guest path and the source) is compiled
//!    by `bytecode.py` in pre-pass instances of the interpreter, one per
//!    rayon thread at most (`RAYON_NUM_THREADS`), into a hash-based pyc.
//! 3. The pycs are mounted as the `__pycache__` folders next to their
//!    sources, where CPython's `SourceFileLoader` looks, checks the source
//!    hash and loads the byte code instead of compiling.
//!
//! One-shot builds keep the pycs in the compile cache folder too
//! ([`disk`]: one file per app), so that the next build of the same app
//! compiles only what changed, and the mounted folders ([`tree`]), so that
//! it writes no pyc either.
//!
//! The snapshot then depends only on the pyc bytes, which depend only on
//! each source and its guest path (see `bytecode.py`): a worker that reuses
//! the pycs of unchanged modules, a one-shot build that compiles all of
//! them, and builds with any number of threads write byte-identical
//! components.

use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

mod disk;
mod tree;

/// The guest module that compiles (the stand-in bindings package's
/// registry, see its docstring).
const COMPILER_SOURCE: &str = include_str!("bytecode.py");
/// Guest folder of a pre-pass instance's inputs and outputs.
pub(crate) const GUEST_DIR: &str = "/componentize-py-prepass";
/// The stand-in bindings package that a pre-pass instance imports.
pub(crate) const PACKAGE: &str = "_componentize_py_prepass";
/// Below this much source in all, no pre-pass.
pub const MIN_BYTES: u64 = 256 << 10;
/// At most this many sources are listed (in path order).
pub const MAX_FILES: usize = 20_000;
/// At most this many folder entries are looked at in all.
const MAX_ENTRIES: usize = 200_000;
/// Folders deeper than this below a `-p` folder are not listed.
const MAX_DEPTH: usize = 16;
/// Source bytes per pre-pass instance before a second one pays off.
const BYTES_PER_INSTANCE: u64 = 128 << 10;
/// CPython 3.11's `sys.implementation.cache_tag`.
const CACHE_TAG: &str = "cpython-311";
/// Most pyc bytes the process keeps (least recently used dropped first).
const MEMO_MAX_BYTES: usize = 256 << 20;

/// A Python source the import may load.
pub(crate) struct Source {
    /// Where the guest sees it (the path the import compiles it under).
    pub guest: String,
    /// Where it is on the host.
    host: PathBuf,
    /// Its size when listed.
    len: u64,
    /// Its contents ([`read`]).
    pub bytes: Vec<u8>,
}

/// The sources below `roots` (host folder, guest path), in order, not read
/// yet; a guest path below a later root's guest path is left to that root
/// (a mount shadows what it covers).
///
/// A folder below a root that is itself a root (`-p . -p deps`, `deps`
/// inside the app's folder) is listed under its own guest path only: the
/// import finds its modules by their top-level names there, so the pre-pass
/// does not compile them twice. (Imported the other way, as `deps.x`, such
/// a module is compiled by the import itself.)
pub(crate) fn sources(roots: &[(PathBuf, String)]) -> Vec<Source> {
    let mut found: BTreeMap<String, (PathBuf, u64)> = BTreeMap::new();
    let mut budget = MAX_ENTRIES;
    let root_ids: Vec<FolderId> = roots.iter().filter_map(|(host, _)| folder_id(&std::fs::metadata(host).ok()?)).collect();
    for (host, guest) in roots {
        found.retain(|path, _| !path.starts_with(&format!("{guest}/")));
        walk(host, guest, 0, &mut Walk { found: &mut found, budget: &mut budget, roots: &root_ids });
    }
    found
        .into_iter()
        .take(MAX_FILES)
        .map(|(guest, (host, len))| Source { guest, host, len, bytes: Vec::new() })
        .collect()
}

/// Read the listed sources.
pub(crate) fn read(sources: &mut [Source]) -> Result<()> {
    for source in sources {
        source.bytes = std::fs::read(&source.host).with_context(|| format!("reading `{}`", source.host.display()))?;
    }
    Ok(())
}

/// A folder's identity on its file system (device and inode).
type FolderId = (u64, u64);

#[cfg(unix)]
fn folder_id(meta: &std::fs::Metadata) -> Option<FolderId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn folder_id(_meta: &std::fs::Metadata) -> Option<FolderId> {
    None
}

/// The state of [`sources`]' walk.
struct Walk<'a> {
    found: &'a mut BTreeMap<String, (PathBuf, u64)>,
    /// Folder entries that may still be looked at.
    budget: &'a mut usize,
    /// The roots' folders, which are not walked into from another root.
    roots: &'a [FolderId],
}

fn walk(host: &Path, guest: &str, depth: usize, state: &mut Walk<'_>) {
    if depth > MAX_DEPTH || state.found.len() >= MAX_FILES || *state.budget == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(host) else { return };
    let mut entries: Vec<_> = entries.flatten().take(*state.budget).collect();
    *state.budget -= entries.len();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        let meta = if kind.is_symlink() { std::fs::metadata(&path) } else { entry.metadata() };
        let Ok(meta) = meta else { continue };
        if meta.is_file() {
            if let Some(stem) = name.strip_suffix(".py") {
                if crate::bindings::is_identifier(stem) {
                    state.found.insert(format!("{guest}/{name}"), (path, meta.len()));
                }
            }
        } else if meta.is_dir()
            && name != "__pycache__"
            && crate::bindings::is_identifier(&name)
            && !folder_id(&meta).is_some_and(|id| state.roots.contains(&id))
        {
            walk(&path, &format!("{guest}/{name}"), depth + 1, state);
        }
    }
}

/// The pycs of a build, mounted as `__pycache__` folders.
pub(crate) struct Prepared {
    /// (host folder, guest `…/__pycache__`) to mount, in guest-path order.
    pub mounts: Vec<(PathBuf, String)>,
    /// Sources compiled by this build's pre-pass, and reused from the memo
    /// or the on-disk cache.
    pub compiled: usize,
    /// See `compiled`.
    pub reused: usize,
    /// Holds the mounted folders.
    _folders: Vec<Arc<Folder>>,
    /// Or the kept tree that holds them (a one-shot build).
    _tree: Option<tree::Held>,
}

/// One guest folder's pycs on the host (`<stem>.cpython-311.pyc` files),
/// removed when the last build that mounts it is done.
struct Folder {
    dir: tempfile::TempDir,
    /// The pyc key of each file, by the source's stem.
    files: BTreeMap<String, crate::memo::Key>,
}

/// In a long-running process (a worker), the folders of the latest build
/// by guest folder: a later build with the same pycs in a folder mounts the
/// same host folder, and one where some changed makes a new folder with
/// hard links to the unchanged files (no file written, no inode allocated
/// for them). A one-shot build makes its folders once and keeps none.
static FOLDERS: Mutex<BTreeMap<String, Arc<Folder>>> = Mutex::new(BTreeMap::new());

/// Drop the folders kept for later builds (their files are removed once no
/// build mounts them): at the end of a worker.
pub fn forget_folders() {
    FOLDERS.lock().unwrap_or_else(PoisonError::into_inner).clear();
}

/// pyc bytes by key, with a use stamp, and their total size.
#[derive(Default)]
struct CodeMemo {
    entries: HashMap<crate::memo::Key, (Arc<Vec<u8>>, u64)>,
    bytes: usize,
    clock: u64,
}

/// The process's pycs (a persistent worker's later builds reuse them).
static CODE: Mutex<Option<CodeMemo>> = Mutex::new(None);

fn with_memo<R>(f: impl FnOnce(&mut CodeMemo) -> R) -> R {
    let mut memo = CODE.lock().unwrap_or_else(PoisonError::into_inner);
    f(memo.get_or_insert_with(CodeMemo::default))
}

/// Compile `sources` (a pre-pass is worth it: see [`worth_it`]) or take
/// them from the memo or the on-disk cache ([`disk`]), and lay the pycs out
/// for mounting. `compile` runs one pre-pass instance over the given guest
/// paths and returns the pyc of each that compiled; it is called on rayon's
/// pool.
pub(crate) fn prepare(
    identity: &crate::memo::Key,
    sources: &[Source],
    compile: impl Fn(&[&str]) -> Result<Vec<Option<Vec<u8>>>> + Sync,
) -> Result<Prepared> {
    // The pycs also depend on how `bytecode.py` makes them (the on-disk
    // cache outlives this program's version).
    let identity = &crate::memo::key(&[identity, COMPILER_SOURCE.as_bytes()]);
    let keys: Vec<_> = sources
        .iter()
        .map(|source| crate::memo::key(&[identity, source.guest.as_bytes(), &source.bytes]))
        .collect();
    // `None`: not known yet; an empty pyc: the source does not compile.
    let mut pycs: Vec<Option<Arc<Vec<u8>>>> = with_memo(|memo| {
        memo.clock += 1;
        let now = memo.clock;
        keys.iter()
            .map(|key| {
                memo.entries.get_mut(key).map(|entry| {
                    entry.1 = now;
                    entry.0.clone()
                })
            })
            .collect()
    });
    // What the memo does not have, from this app's bundle on disk.
    let bundle = disk::path(identity, sources);
    let mut on_disk = None;
    if let Some(path) = bundle.as_deref().filter(|_| pycs.iter().any(Option::is_none)) {
        let found = disk::load(path);
        with_memo(|memo| {
            for (i, key) in keys.iter().enumerate() {
                if pycs[i].is_none() {
                    if let Some(pyc) = found.get(key) {
                        pycs[i] = Some(remember(memo, *key, pyc.clone()));
                    }
                }
            }
            evict(memo);
        });
        on_disk = Some(found);
    }
    let missing: Vec<usize> = (0..sources.len()).filter(|&i| pycs[i].is_none()).collect();
    let reused = sources.len() - missing.len();
    // Contiguous chunks of about equal source size, one per instance.
    let missing_bytes: u64 = missing.iter().map(|&i| sources[i].bytes.len() as u64).sum();
    let instances = (missing_bytes.div_ceil(BYTES_PER_INSTANCE) as usize)
        .min(rayon::current_num_threads())
        .min(missing.len())
        .max(1);
    let mut chunks: Vec<Vec<usize>> = vec![Vec::new(); instances];
    let mut done = 0u64;
    for &i in &missing {
        let chunk = ((done * instances as u64) / missing_bytes.max(1)) as usize;
        chunks[chunk.min(instances - 1)].push(i);
        done += sources[i].bytes.len() as u64;
    }
    let results: Vec<Vec<Option<Vec<u8>>>> = chunks
        .par_iter()
        .filter(|chunk| !chunk.is_empty())
        .map(|chunk| {
            let paths: Vec<&str> = chunk.iter().map(|&i| sources[i].guest.as_str()).collect();
            compile(&paths)
        })
        .collect::<Result<_>>()?;
    let compiled = missing.len();
    with_memo(|memo| {
        for (chunk, result) in chunks.iter().filter(|chunk| !chunk.is_empty()).zip(results) {
            for (&i, pyc) in chunk.iter().zip(result) {
                // A source that does not compile is remembered too (an
                // empty pyc), so that no later build starts an instance
                // for it again.
                pycs[i] = Some(remember(memo, keys[i], Arc::new(pyc.unwrap_or_default())));
            }
        }
        evict(memo);
    });
    let pycs: Vec<Arc<Vec<u8>>> = pycs.into_iter().map(|pyc| pyc.unwrap_or_default()).collect();
    // The bundle on disk, rewritten when it is not this build's set.
    if let (Some(path), Some(found)) = (&bundle, &on_disk) {
        if found.len() != keys.len() || keys.iter().any(|key| !found.contains_key(key)) {
            disk::store(path, &keys, &pycs);
        }
    }

    // One host folder per guest folder that has pycs.
    let mut wanted = tree::Wanted::new();
    for ((source, pyc), key) in sources.iter().zip(&pycs).zip(&keys) {
        if pyc.is_empty() {
            continue;
        }
        let (folder, file) = source.guest.rsplit_once('/').context("a source path without a folder")?;
        let stem = file.strip_suffix(".py").context("a source that is not a `.py` file")?;
        wanted.entry(folder).or_default().insert(stem.to_string(), (*key, pyc.as_slice()));
    }
    let keep = crate::preinit::long_running();
    // A one-shot build: the tree the last build of the same pycs kept.
    if !keep {
        if let Some((mounts, held)) = tree::mount(&wanted, CACHE_TAG) {
            return Ok(Prepared { mounts, compiled, reused, _folders: Vec::new(), _tree: Some(held) });
        }
    }
    let mut kept = FOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut folders = Vec::with_capacity(wanted.len());
    let mut mounts = Vec::with_capacity(wanted.len());
    let mut latest = BTreeMap::new();
    for (guest, files) in wanted {
        let previous = if keep { kept.get(guest).cloned() } else { None };
        let same = previous.as_ref().is_some_and(|folder| {
            folder.files.len() == files.len()
                && folder.files.iter().zip(&files).all(|((a, ka), (b, (kb, _)))| a == b && ka == kb)
        });
        let folder = match previous {
            Some(folder) if same => folder,
            previous => Arc::new(make_folder(&files, previous.as_deref())?),
        };
        mounts.push((folder.dir.path().to_path_buf(), format!("{guest}/__pycache__")));
        if keep {
            latest.insert(guest.to_string(), folder.clone());
        }
        folders.push(folder);
    }
    if keep {
        *kept = latest;
    }
    drop(kept);
    Ok(Prepared { mounts, compiled, reused, _folders: folders, _tree: None })
}

/// A new host folder with `files` (stem -> key and pyc): hard links to the
/// files of `previous` with the same stem and key, the others written.
fn make_folder(files: &BTreeMap<String, (crate::memo::Key, &[u8])>, previous: Option<&Folder>) -> Result<Folder> {
    let dir = tempfile::Builder::new()
        .prefix("componentize-py-pyc-")
        .tempdir()
        .context("creating a temporary folder")?;
    for (stem, (key, pyc)) in files {
        let name = format!("{stem}.{CACHE_TAG}.pyc");
        let path = dir.path().join(&name);
        let linked = previous
            .filter(|previous| previous.files.get(stem) == Some(key))
            .is_some_and(|previous| std::fs::hard_link(previous.dir.path().join(&name), &path).is_ok());
        if !linked {
            std::fs::write(&path, pyc).with_context(|| format!("writing `{}`", path.display()))?;
        }
    }
    let files = files.iter().map(|(stem, (key, _))| (stem.clone(), *key)).collect();
    Ok(Folder { dir, files })
}

/// Keep `pyc` in the memo under `key` (now used) and return it.
fn remember(memo: &mut CodeMemo, key: crate::memo::Key, pyc: Arc<Vec<u8>>) -> Arc<Vec<u8>> {
    memo.bytes += pyc.len();
    if let Some(old) = memo.entries.insert(key, (pyc.clone(), memo.clock)) {
        memo.bytes -= old.0.len();
    }
    pyc
}

/// Whether `sources` are enough for a pre-pass to pay off.
pub(crate) fn worth_it(sources: &[Source]) -> bool {
    sources.iter().map(|source| source.len).sum::<u64>() >= MIN_BYTES
}

/// Drop the least recently used pycs until the memo fits its cap.
fn evict(memo: &mut CodeMemo) {
    if memo.bytes <= MEMO_MAX_BYTES {
        return;
    }
    let mut by_age: Vec<_> = memo.entries.iter().map(|(key, (pyc, used))| (*used, *key, pyc.len())).collect();
    by_age.sort();
    for (_, key, len) in by_age {
        if memo.bytes <= MEMO_MAX_BYTES {
            break;
        }
        memo.entries.remove(&key);
        memo.bytes -= len;
    }
}

/// Lay out a pre-pass instance's folder: the stand-in bindings package
/// (whose registry is `bytecode.py`) and the list of sources; the instance
/// writes `out.pycs` beside them.
pub(crate) fn instance_folder(paths: &[&str]) -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("componentize-py-prepass-")
        .tempdir()
        .context("creating a temporary folder")?;
    let package = dir.path().join(PACKAGE);
    std::fs::create_dir_all(&package).context("creating the pre-pass package")?;
    std::fs::write(package.join("__init__.py"), "").context("writing the pre-pass package")?;
    std::fs::write(package.join("_registry.py"), COMPILER_SOURCE).context("writing the pre-pass package")?;
    std::fs::write(dir.path().join("files.txt"), paths.join("\n")).context("writing the pre-pass list")?;
    Ok(dir)
}

/// The pycs a pre-pass instance wrote into `dir` for `count` sources
/// (`out.pycs`: each pyc after its length, 8 bytes little-endian; length 0
/// for a source that does not compile).
pub(crate) fn instance_results(dir: &Path, count: usize) -> Result<Vec<Option<Vec<u8>>>> {
    let path = dir.join("out.pycs");
    let bytes = std::fs::read(&path).with_context(|| format!("reading `{}`", path.display()))?;
    let mut rest = bytes.as_slice();
    let mut pycs = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, tail) = rest.split_first_chunk::<8>().context("the byte-code pre-pass's output is short")?;
        let len = usize::try_from(u64::from_le_bytes(*len)).context("a pyc length out of range")?;
        anyhow::ensure!(tail.len() >= len, "the byte-code pre-pass's output is short");
        let (pyc, tail) = tail.split_at(len);
        pycs.push((len > 0).then(|| pyc.to_vec()));
        rest = tail;
    }
    anyhow::ensure!(rest.is_empty(), "the byte-code pre-pass wrote more pycs than it was given sources");
    Ok(pycs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_importable_sources_and_lets_mounts_shadow() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        for file in ["app.py", "pkg/__init__.py", "pkg/m.py", "not-a-module.py", "pkg/__pycache__/x.py", "my-dir/y.py", "b/w.py"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x = 1\n").unwrap();
        }
        std::fs::write(root.join("README"), "").unwrap();
        let mount = dir.path().join("mount");
        std::fs::create_dir_all(&mount).unwrap();
        std::fs::write(mount.join("z.py"), "").unwrap();
        let mut found = sources(&[(root, "/app/0".into()), (mount, "/app/0/b".into())]);
        read(&mut found).unwrap();
        assert_eq!(found[0].bytes, b"x = 1\n");
        let names: Vec<_> = found.iter().map(|s| s.guest.as_str()).collect();
        assert_eq!(names, ["/app/0/app.py", "/app/0/b/z.py", "/app/0/pkg/__init__.py", "/app/0/pkg/m.py"]);
        assert!(!worth_it(&found));
    }

    #[test]
    fn a_root_inside_another_is_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        for file in ["app.py", "deps/lib/__init__.py", "deps/six.py", "other/x.py"] {
            let path = app.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x = 1\n").unwrap();
        }
        // `-p app -p app/deps`, the second also through a symbolic link.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(app.join("deps"), &link).unwrap();
        for deps in [app.join("deps"), link] {
            let found = sources(&[(app.clone(), "/app/0".into()), (deps, "/app/1".into())]);
            let names: Vec<_> = found.iter().map(|s| s.guest.as_str()).collect();
            assert_eq!(names, ["/app/0/app.py", "/app/0/other/x.py", "/app/1/lib/__init__.py", "/app/1/six.py"]);
        }
    }
}
