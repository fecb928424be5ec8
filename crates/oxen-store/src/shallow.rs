//! `.oxen/shallow`: the boundary commits of a shallow clone (`clone
//! --depth`), one hex id per line, as git's `.git/shallow`. A boundary
//! commit is stored with its tree's whole closure but without its parents;
//! every ancestor walk treats it as parentless. The file is written
//! atomically (temp file and rename) and removed when the history is
//! complete again, so a repository that was never shallow has no file and
//! pays one failed `open` to find out.

use std::collections::BTreeSet;

use oxen_hash::ContentId;

use crate::{write_atomic, Layout, Result, StoreError};

impl Layout {
    /// `.oxen/shallow`
    pub fn shallow_file(&self) -> std::path::PathBuf {
        self.dot.join("shallow")
    }
}

/// The boundary commits recorded in `.oxen/shallow` (empty when the
/// repository is complete). A line that is not an id is an error naming
/// the file: guessing would make walks wrong.
pub fn read_shallow(layout: &Layout) -> Result<BTreeSet<ContentId>> {
    let path = layout.shallow_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let mut out = BTreeSet::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let id = ContentId::from_hex(line).map_err(|e| StoreError::Config {
            path: path.clone(),
            msg: format!("bad shallow boundary '{line}': {e}"),
        })?;
        out.insert(id);
    }
    Ok(out)
}

/// Record exactly `boundaries` in `.oxen/shallow`, atomically; an empty
/// set removes the file (the history is complete).
pub fn write_shallow(layout: &Layout, boundaries: &BTreeSet<ContentId>) -> Result<()> {
    let path = layout.shallow_file();
    if boundaries.is_empty() {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&path, e)),
        };
    }
    let text: String = boundaries.iter().map(|id| format!("{}\n", id.to_hex())).collect();
    write_atomic(&layout.tmp_dir(), &path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_empty_removes_the_file() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        assert!(read_shallow(&layout).unwrap().is_empty());
        let set: BTreeSet<ContentId> = [ContentId([1; 16]), ContentId([2; 16])].into();
        write_shallow(&layout, &set).unwrap();
        assert_eq!(read_shallow(&layout).unwrap(), set);
        write_shallow(&layout, &BTreeSet::new()).unwrap();
        assert!(!layout.shallow_file().exists());
        std::fs::write(layout.shallow_file(), "zz\n").unwrap();
        assert!(read_shallow(&layout).unwrap_err().to_string().contains("shallow"));
    }
}
