//! A stored file read as a stream: bounded memory whatever its size. The
//! Python side wraps it in `io.BufferedReader`.

use std::io::Read;
use std::sync::Arc;

use oxen_hash::ContentId;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::Error;

/// Reads one stored content by id. Forward seeks skip by reading; a
/// backward seek reopens the content (each read is verified against its id
/// by the store's reader).
#[pyclass(module = "pyoxen._native")]
pub struct BlobReader {
    repo: Arc<oxen_repo::Repo>,
    id: ContentId,
    size: u64,
    pos: u64,
    reader: Option<oxen_store::Blob>,
}

/// Bytes skipped per read when seeking forward.
const SKIP_CHUNK: usize = 1 << 20;

impl BlobReader {
    pub(crate) fn new(repo: Arc<oxen_repo::Repo>, id: ContentId, size: u64) -> BlobReader {
        BlobReader { repo, id, size, pos: 0, reader: None }
    }

    fn reader(&mut self) -> crate::Result<&mut oxen_store::Blob> {
        if self.reader.is_none() {
            let b = self.repo.versions.open(&self.id)?;
            self.reader = Some(b);
            // A fresh reader starts at 0; skip to where we are.
            let want = self.pos;
            self.pos = 0;
            self.skip_to(want)?;
        }
        self.reader.as_mut().ok_or_else(|| Error::from(std::io::Error::other("reader closed")))
    }

    fn skip_to(&mut self, target: u64) -> crate::Result<()> {
        let Some(r) = self.reader.as_mut() else { return Ok(()) };
        let mut buf = vec![0u8; SKIP_CHUNK.min((target - self.pos) as usize).max(1)];
        while self.pos < target {
            let want = ((target - self.pos) as usize).min(buf.len());
            let n = r.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            self.pos += n as u64;
        }
        Ok(())
    }

    fn read_into(&mut self, buf: &mut [u8]) -> crate::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let r = self.reader()?;
        let mut filled = 0;
        while filled < buf.len() {
            let n = r.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        self.pos += filled as u64;
        Ok(filled)
    }
}

#[pymethods]
impl BlobReader {
    /// Read up to `n` bytes (all the rest when `n` is negative or omitted).
    #[pyo3(signature = (n=-1))]
    fn read<'py>(&mut self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyBytes>> {
        let left = self.size.saturating_sub(self.pos);
        let want = if n < 0 { left } else { (n as u64).min(left) } as usize;
        let mut buf = vec![0u8; want];
        let got = py.allow_threads(|| self.read_into(&mut buf))?;
        buf.truncate(got);
        Ok(PyBytes::new(py, &buf))
    }

    /// Move to `offset` from the start (`whence` 0), the current position
    /// (1) or the end (2); returns the new position.
    #[pyo3(signature = (offset, whence=0))]
    fn seek(&mut self, py: Python<'_>, offset: i64, whence: i32) -> PyResult<u64> {
        let base = match whence {
            0 => 0i128,
            1 => self.pos as i128,
            2 => self.size as i128,
            _ => return Err(pyo3::exceptions::PyValueError::new_err(format!("invalid whence ({whence})"))),
        };
        let target = base + offset as i128;
        if target < 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(format!("negative seek position {target}")));
        }
        let target = target as u64;
        if target < self.pos || self.reader.is_none() {
            self.reader = None;
            self.pos = target;
        } else {
            py.allow_threads(|| self.skip_to(target.min(self.size)))?;
            self.pos = target;
        }
        Ok(self.pos)
    }

    /// The current position.
    fn tell(&self) -> u64 {
        self.pos
    }

    /// The size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// Drop the underlying reader.
    fn close(&mut self) {
        self.reader = None;
    }
}
