//! Writing many small files at once: the folders first, one by one, then
//! the files on rayon's pool. Creating a thousand small files costs the
//! file system more than their bytes do, and `create_dir_all` for each
//! file more still.

use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Write each `(path, bytes)` of `files`, making the folders they need.
pub(crate) fn write_files(files: &[(PathBuf, &[u8])]) -> Result<()> {
    let folders: BTreeSet<&Path> = files.iter().filter_map(|(path, _)| path.parent()).collect();
    for folder in folders {
        std::fs::create_dir_all(folder).with_context(|| format!("creating `{}`", folder.display()))?;
    }
    files
        .par_iter()
        .try_for_each(|(path, bytes)| std::fs::write(path, bytes).with_context(|| format!("writing `{}`", path.display())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_files_in_new_nested_folders() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = (0..50)
            .map(|i| (dir.path().join(format!("a/{}/f{i}", i % 7)), format!("file {i}").into_bytes()))
            .collect();
        let borrowed: Vec<_> = files.iter().map(|(p, b)| (p.clone(), b.as_slice())).collect();
        super::write_files(&borrowed).unwrap();
        for (path, bytes) in &files {
            assert_eq!(&std::fs::read(path).unwrap(), bytes);
        }
    }
}
