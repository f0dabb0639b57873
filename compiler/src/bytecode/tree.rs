//! A one-shot build's mounted pyc folders kept in the compile cache folder
//! (`pyc-trees/<key>/`), so that the next build of the same app mounts them
//! again instead of writing every pyc into a new temporary folder (the
//! file system's inode allocation was the largest cost left of a warm
//! one-shot build).
//!
//! A tree is `<key>/<n>/<stem>.cpython-311.pyc` for the n-th guest folder
//! (in guest-path order), plus `.lock` and `.complete`; the key is a
//! SHA-256 over each guest folder, stem and pyc key, so a tree never
//! changes once complete (it is made in a `.new-*` folder and renamed).
//! A build mounts a tree while holding a shared lock on its `.lock`; the
//! clean-up after a new tree is made removes trees beyond the newest
//! [`KEEP`] only when it gets the exclusive lock (no build mounts them):
//! a build whose pycs vanished during its import would compile those
//! sources itself and write a different snapshot. Any error: `None`, and
//! the caller writes a temporary tree as before.

use crate::memo::Key;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// How many trees the cache folder keeps (besides those in use).
const KEEP: usize = 8;
/// `.new-*` and `.old-*` folders older than this are left-overs of a
/// build that stopped half-way.
const STALE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The pycs to mount: by guest folder, by stem, the pyc's key and bytes.
pub(super) type Wanted<'a> = BTreeMap<&'a str, BTreeMap<String, (Key, &'a [u8])>>;

/// A kept tree that a build mounts (its shared lock).
pub(super) struct Held {
    _lock: File,
}

/// The mounts (host folder, guest `…/__pycache__`) of `wanted` from a kept
/// tree, made now if there is none, and the lock that keeps it while the
/// build runs; `None` without a cache folder or on any error.
pub(super) fn mount(wanted: &Wanted<'_>, tag: &str) -> Option<(Vec<(PathBuf, String)>, Held)> {
    let root = crate::preinit::cache_dir()?.join("pyc-trees");
    let dir = root.join(hex(&key(wanted)));
    let mounts = || -> Vec<(PathBuf, String)> {
        wanted
            .keys()
            .enumerate()
            .map(|(i, guest)| (dir.join(i.to_string()), format!("{guest}/__pycache__")))
            .collect()
    };
    if let Some(held) = hold(&dir) {
        return Some((mounts(), held));
    }
    std::fs::create_dir_all(&root).ok()?;
    let new = tempfile::Builder::new().prefix(".new-").tempdir_in(&root).ok()?;
    let mut files = Vec::new();
    for (i, stems) in wanted.values().enumerate() {
        let folder = new.path().join(i.to_string());
        files.extend(stems.iter().map(|(stem, (_, pyc))| (folder.join(format!("{stem}.{tag}.pyc")), *pyc)));
    }
    crate::parallel_write::write_files(&files).ok()?;
    File::create(new.path().join(".lock")).ok()?;
    File::create(new.path().join(".complete")).ok()?;
    let new = new.keep();
    // Another build may have made the same tree meanwhile: then use that.
    if std::fs::rename(&new, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&new);
    }
    let held = hold(&dir)?;
    clean_up(&root, &dir);
    Some((mounts(), held))
}

/// A shared lock on the complete tree `dir`, if there is one (now marked
/// as used).
fn hold(dir: &Path) -> Option<Held> {
    let lock = File::open(dir.join(".lock")).ok()?;
    lock.lock_shared().ok()?;
    // A tree removed while this waited has no `.complete`, and a tree made
    // again at the same path has another `.lock`.
    let complete = dir.join(".complete");
    if !complete.is_file() || !same_file(&lock, &dir.join(".lock")) {
        return None;
    }
    crate::preinit::cache_touch(&complete);
    Some(Held { _lock: lock })
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.is_file()
}

/// Remove the trees of `root` beyond the [`KEEP`] most recently used
/// (never `newest`, never one a build holds), and stale half-made ones.
fn clean_up(root: &Path, newest: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let now = std::time::SystemTime::now();
    let mut trees = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".new-") || name.starts_with(".old-") {
            let old = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|time| now.duration_since(time).is_ok_and(|age| age > STALE));
            if old {
                let _ = std::fs::remove_dir_all(&path);
            }
            continue;
        }
        if let Ok(time) = std::fs::metadata(path.join(".complete")).and_then(|meta| meta.modified()) {
            trees.push((time, path));
        }
    }
    trees.sort_by(|a, b| b.cmp(a));
    for (_, path) in trees.into_iter().skip(KEEP) {
        if path != newest {
            remove(root, &path);
        }
    }
}

/// Remove the tree `path` if no build holds it.
fn remove(root: &Path, path: &Path) {
    let Ok(lock) = File::open(path.join(".lock")) else { return };
    if lock.try_lock().is_err() {
        return;
    }
    let Some(name) = path.file_name() else { return };
    let old = root.join(format!(".old-{}-{}", std::process::id(), name.to_string_lossy()));
    if std::fs::rename(path, &old).is_ok() {
        let _ = std::fs::remove_dir_all(&old);
    }
}

/// SHA-256 over every guest folder, stem and pyc key of `wanted`.
fn key(wanted: &Wanted<'_>) -> Key {
    let mut parts: Vec<&[u8]> = vec![b"pyc tree"];
    for (guest, files) in wanted {
        parts.push(guest.as_bytes());
        for (stem, (key, _)) in files {
            parts.push(stem.as_bytes());
            parts.push(key);
        }
    }
    crate::memo::key(&parts)
}

fn hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, n: u8, age: u64) -> PathBuf {
        let dir = root.join(hex(&[n; 32]));
        std::fs::create_dir_all(dir.join("0")).unwrap();
        File::create(dir.join(".lock")).unwrap();
        let complete = File::create(dir.join(".complete")).unwrap();
        complete.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age)).unwrap();
        dir
    }

    #[test]
    fn clean_up_keeps_the_newest_and_those_in_use() {
        let root = tempfile::tempdir().unwrap();
        let trees: Vec<_> = (0..KEEP as u8 + 3).map(|n| tree(root.path(), n, 100 - u64::from(n))).collect();
        // The oldest is in use (a build holds its lock); the second oldest
        // is the one just made.
        let lock = File::open(trees[0].join(".lock")).unwrap();
        lock.lock_shared().unwrap();
        clean_up(root.path(), &trees[1]);
        assert!(trees[0].exists() && trees[1].exists(), "in use, newest");
        assert!(!trees[2].exists(), "beyond the newest KEEP, not in use");
        assert!(trees[3..].iter().all(|dir| dir.exists()));
        drop(lock);
        clean_up(root.path(), &trees[KEEP + 2]);
        assert!(!trees[0].exists() && !trees[1].exists());
        assert!(hold(&trees[5]).is_some());
        // A tree being removed is not held.
        let gone = root.path().join(hex(&[99; 32]));
        assert!(hold(&gone).is_none());
    }
}
