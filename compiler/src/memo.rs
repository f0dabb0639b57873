//! Results of pure build steps kept in memory, keyed by the SHA-256 of their
//! inputs, so that a persistent worker's later builds reuse what depends only
//! on unchanged inputs (the bindings of an unchanged world, the merged module
//! of an unchanged world and interpreter). Each [`Memo`] holds a bounded
//! number of entries and drops the least recently used first.
//!
//! A memo never changes a build's output: a hit returns what the step
//! computed from the same input bytes, and the steps are deterministic.

use std::sync::{Arc, Mutex, PoisonError};

/// A SHA-256 over everything a step reads.
pub type Key = [u8; 32];

/// A bounded, least-recently-used map from [`Key`] to shared results.
pub struct Memo<V> {
    entries: Mutex<Vec<(Key, Arc<V>)>>,
    capacity: usize,
}

impl<V> Memo<V> {
    /// An empty memo that keeps at most `capacity` results.
    pub const fn new(capacity: usize) -> Self {
        Memo { entries: Mutex::new(Vec::new()), capacity }
    }

    /// The result for `key`, computed by `compute` unless an earlier call
    /// computed it. Errors are not kept. `compute` runs without the lock,
    /// so concurrent builds do not wait for each other (two may compute the
    /// same result; both are equal).
    pub fn get_or_try<E>(&self, key: Key, compute: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let value = Arc::new(compute()?);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !entries.iter().any(|(k, _)| *k == key) {
            if entries.len() >= self.capacity {
                entries.remove(0);
            }
            if self.capacity > 0 {
                entries.push((key, value.clone()));
            }
        }
        Ok(value)
    }

    /// The result for `key`, if kept (it becomes the most recently used).
    pub fn get(&self, key: &Key) -> Option<Arc<V>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let at = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(at);
        let value = entry.1.clone();
        entries.push(entry);
        Some(value)
    }

    /// How many results are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no result is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// SHA-256 over `parts`, each preceded by its length (so that parts cannot
/// run into each other).
pub fn key(parts: &[&[u8]]) -> Key {
    use sha2::Digest;
    let mut sha = sha2::Sha256::new();
    for part in parts {
        sha.update((part.len() as u64).to_le_bytes());
        sha.update(part);
    }
    sha.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_used() {
        let memo: Memo<u32> = Memo::new(2);
        let mut computed = 0;
        let mut get = |n: u32| {
            *memo
                .get_or_try::<()>(key(&[&n.to_le_bytes()]), || {
                    computed += 1;
                    Ok(n * 10)
                })
                .unwrap()
        };
        assert_eq!(get(1), 10);
        assert_eq!(get(2), 20);
        assert_eq!(get(1), 10); // a hit: 1 is now the most recent
        assert_eq!(get(3), 30); // evicts 2
        assert_eq!(get(1), 10);
        assert_eq!(get(2), 20); // computed again
        assert_eq!(computed, 4);
    }

    #[test]
    fn errors_are_not_kept_and_keys_separate_parts() {
        let memo: Memo<u32> = Memo::new(4);
        assert!(memo.get_or_try(key(&[b"a"]), || Err("no")).is_err());
        assert!(memo.is_empty());
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    }
}
