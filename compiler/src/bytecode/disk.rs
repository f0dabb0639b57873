//! The pre-pass's pycs in the on-disk compile cache (the folder of
//! [`crate::preinit::cache_dir`], with its size cap and least-recently-used
//! eviction), so that a second one-shot build of an app compiles nothing.
//!
//! One file per app, not one per source: `<key>.pycs`, the key a SHA-256 of
//! the interpreter's identity and the guest paths of the app's sources (so
//! an edit to a module's text finds the same file, and only the edited
//! source misses). Inside, each pyc is stored under the memo's key (the
//! interpreter's identity, the guest path and the source bytes), so a pyc is
//! only ever used for the very source it was compiled from. An empty pyc
//! means the source does not compile.
//!
//! Errors are never a build's: a file that is missing, short, or whose
//! checksum does not match reads as empty, and a failed write is ignored.

use crate::memo::Key;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The first bytes of a bundle (the format's version is its last digit).
const MAGIC: &[u8; 24] = b"componentize-py pycs v1\n";
/// The cache files' extension.
const EXT: &str = "pycs";
/// How many bundles the cache keeps (apps built with this cache folder).
const KEEP: usize = 16;

/// The bundle file of the app whose sources are `sources`, if there is a
/// cache folder (`COMPONENTIZE_PY_NO_CACHE` unset).
pub(super) fn path(identity: &Key, sources: &[super::Source]) -> Option<PathBuf> {
    let mut parts: Vec<&[u8]> = vec![b"pyc bundle", identity];
    parts.extend(sources.iter().map(|source| source.guest.as_bytes()));
    crate::preinit::cache_file(&crate::memo::key(&parts), EXT)
}

/// The pycs in the bundle at `path` by key; empty when it cannot be read.
/// A bundle read is marked as used (for eviction).
pub(super) fn load(path: &Path) -> HashMap<Key, Arc<Vec<u8>>> {
    let Ok(bytes) = std::fs::read(path) else { return HashMap::new() };
    match decode(&bytes) {
        Some(entries) => {
            crate::preinit::cache_touch(path);
            entries
        }
        None => HashMap::new(),
    }
}

/// Write the bundle of `keys` and their `pycs` to `path` (atomically, then
/// the cache's eviction). Errors are ignored.
pub(super) fn store(path: &Path, keys: &[Key], pycs: &[Arc<Vec<u8>>]) {
    crate::preinit::cache_store(path, &encode(keys, pycs), KEEP);
}

/// `MAGIC`, the count, then per entry its key, length and bytes, then the
/// SHA-256 of all that.
fn encode(keys: &[Key], pycs: &[Arc<Vec<u8>>]) -> Vec<u8> {
    use sha2::Digest;
    let total: usize = pycs.iter().map(|pyc| pyc.len() + 40).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + total + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
    for (key, pyc) in keys.iter().zip(pycs) {
        out.extend_from_slice(key);
        out.extend_from_slice(&(pyc.len() as u64).to_le_bytes());
        out.extend_from_slice(pyc);
    }
    let sum: [u8; 32] = sha2::Sha256::digest(&out).into();
    out.extend_from_slice(&sum);
    out
}

/// The entries of an [`encode`]d bundle, `None` if it is not one.
fn decode(bytes: &[u8]) -> Option<HashMap<Key, Arc<Vec<u8>>>> {
    use sha2::Digest;
    let body_len = bytes.len().checked_sub(32)?;
    let (body, sum) = bytes.split_at(body_len);
    if sha2::Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let mut rest = body.strip_prefix(MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    let count = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let mut entries = HashMap::new();
    for _ in 0..count {
        let key: Key = take(32)?.try_into().ok()?;
        let len = usize::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
        entries.insert(key, Arc::new(take(len)?.to_vec()));
    }
    rest.is_empty().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_reads_as_empty() {
        let keys = [[1u8; 32], [2u8; 32]];
        let pycs = [Arc::new(b"pyc one".to_vec()), Arc::new(Vec::new())];
        let bytes = encode(&keys, &pycs);
        let entries = decode(&bytes).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(**entries.get(&keys[0]).unwrap(), b"pyc one");
        assert!(entries.get(&keys[1]).unwrap().is_empty());
        // A changed byte, a short file, another format: nothing.
        let mut damaged = bytes.clone();
        damaged[MAGIC.len() + 8 + 32 + 8] ^= 1;
        assert!(decode(&damaged).is_none());
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(decode(b"").is_none());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.pycs");
        std::fs::write(&file, &damaged).unwrap();
        assert!(load(&file).is_empty());
        assert!(load(&dir.path().join("missing.pycs")).is_empty());
    }
}
