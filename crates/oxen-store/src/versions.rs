//! The versions store: file contents addressed by content id, sharded by the
//! first two hex characters, written via temp file + rename so a reader never
//! sees a partial file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oxen_hash::{copy_hashing, ContentId, CopyError, CHUNK};

use crate::{Result, StoreError};

/// Handle on `.oxen/versions`.
#[derive(Clone, Debug)]
pub struct Versions {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Versions {
    /// A store rooted at `dir`, staging temp files in `tmp` (same filesystem).
    pub fn new(dir: PathBuf, tmp: PathBuf) -> Versions {
        Versions { dir, tmp }
    }

    /// Where the contents of `id` live.
    pub fn path(&self, id: &ContentId) -> PathBuf {
        let hex = id.to_hex();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// Whether the contents of `id` are stored.
    pub fn has(&self, id: &ContentId) -> bool {
        self.path(id).is_file()
    }

    /// Open stored contents for reading.
    pub fn open(&self, id: &ContentId) -> Result<File> {
        let p = self.path(id);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::MissingObject(*id)
            } else {
                StoreError::io(p, e)
            }
        })
    }

    /// Stream everything from `reader` into the store, hashing as it goes,
    /// and return its id and length. Memory use is one chunk, whatever the size.
    pub fn write_reader<R: Read>(&self, reader: R, what: &Path) -> Result<(ContentId, u64)> {
        let (tmp, id, len) = self.stage_stream(reader, what)?;
        self.publish(tmp, &id)?;
        Ok((id, len))
    }

    /// Copy a stream into a temp file, hashing it.
    fn stage_stream<R: Read>(&self, reader: R, what: &Path) -> Result<(tempfile::NamedTempFile, ContentId, u64)> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.tmp).map_err(|e| StoreError::io(&self.tmp, e))?;
        let (id, len) = copy_hashing(reader, tmp.as_file_mut()).map_err(|e| match e {
            CopyError::Read(e) => StoreError::io(what, e),
            CopyError::Write(e) => StoreError::io(&self.tmp, e),
        })?;
        Ok((tmp, id, len))
    }

    /// Make a staged temp file visible under its id (a no-op if already stored).
    fn publish(&self, tmp: tempfile::NamedTempFile, id: &ContentId) -> Result<()> {
        let dest = self.path(id);
        if !dest.is_file() {
            self.ensure_shard(&dest)?;
            tmp.persist(&dest).map_err(|e| StoreError::io(&dest, e.error))?;
        }
        Ok(())
    }

    /// Store a file from disk. Small files are read whole (one syscall, and
    /// nothing is written when the content is already stored); large files
    /// are streamed.
    pub fn write_file(&self, src: &Path) -> Result<(ContentId, u64)> {
        let mut f = File::open(src).map_err(|e| StoreError::io(src, e))?;
        let len = f.metadata().map_err(|e| StoreError::io(src, e))?.len();
        if len as usize <= CHUNK {
            let mut bytes = Vec::with_capacity(len as usize);
            f.read_to_end(&mut bytes).map_err(|e| StoreError::io(src, e))?;
            let id = self.write_bytes(&bytes)?;
            return Ok((id, bytes.len() as u64));
        }
        self.write_reader(f, src)
    }

    /// Store a byte slice.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<ContentId> {
        let id = ContentId::of(bytes);
        let dest = self.path(&id);
        if dest.is_file() {
            return Ok(id);
        }
        self.ensure_shard(&dest)?;
        // The temp file lives in the destination shard: the rename stays in
        // one directory, and parallel writers spread over 256 directories
        // instead of all locking one tmp directory.
        let shard = dest.parent().unwrap_or(&self.dir);
        let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(shard).map_err(|e| StoreError::io(shard, e))?;
        tmp.write_all(bytes).map_err(|e| StoreError::io(tmp.path(), e))?;
        tmp.persist(&dest).map_err(|e| StoreError::io(&dest, e.error))?;
        Ok(id)
    }

    /// Store bytes whose id the caller already verified (pack receive path),
    /// streaming from a reader: verifies again while copying and refuses to
    /// make the object visible if the bytes do not hash to `expected`.
    pub fn write_verified<R: Read>(&self, reader: R, expected: &ContentId, what: &Path) -> Result<u64> {
        let (tmp, actual, len) = self.stage_stream(reader, what)?;
        if actual != *expected {
            return Err(StoreError::Corrupt(*expected, actual));
        }
        self.publish(tmp, expected)?;
        Ok(len)
    }

    /// Re-hash stored contents; `Ok(None)` when they still match their id,
    /// `Ok(Some(actual))` when corrupt.
    pub fn verify(&self, id: &ContentId) -> Result<Option<ContentId>> {
        let f = self.open(id)?;
        let (actual, _) = ContentId::of_reader(f).map_err(|e| StoreError::io(self.path(id), e))?;
        Ok(if actual == *id { None } else { Some(actual) })
    }

    /// Every id in the store (walks the shard directories).
    pub fn list(&self) -> Result<Vec<ContentId>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io(&self.dir, e)),
        };
        for shard in rd {
            let shard = shard.map_err(|e| StoreError::io(&self.dir, e))?;
            let sname = shard.file_name().to_string_lossy().into_owned();
            if sname.len() != 2 {
                continue;
            }
            for f in std::fs::read_dir(shard.path()).map_err(|e| StoreError::io(shard.path(), e))? {
                let f = f.map_err(|e| StoreError::io(shard.path(), e))?;
                let name = format!("{sname}{}", f.file_name().to_string_lossy());
                if let Ok(id) = ContentId::from_hex(&name) {
                    out.push(id);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn ensure_shard(&self, dest: &Path) -> Result<()> {
        if let Some(parent) = dest.parent() {
            if !parent.is_dir() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
            }
        }
        Ok(())
    }
}
