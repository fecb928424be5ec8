//! External sort: records are kept in memory up to a budget, then sorted
//! and written to an anonymous temp file (a run); reading back merges the
//! runs with a heap. Memory stays at the budget whatever the input size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

/// A record that can be spilled.
pub(crate) trait Spill: Ord + Sized {
    /// Append the encoding.
    fn encode(&self, out: &mut Vec<u8>);
    /// Read one record; `None` at the end of the run.
    fn decode(r: &mut impl Read) -> io::Result<Option<Self>>;
    /// Approximate bytes held in memory.
    fn mem(&self) -> usize;
}

pub(crate) fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Read a u64 or report a clean end of stream.
pub(crate) fn read_first_u64(r: &mut impl Read) -> io::Result<Option<u64>> {
    let mut b = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        let n = r.read(&mut b[got..])?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated spill record"));
        }
        got += n;
    }
    Ok(Some(u64::from_le_bytes(b)))
}

/// Sorts any number of records within a memory budget.
pub(crate) struct Sorter<T: Spill> {
    buf: Vec<T>,
    mem: usize,
    budget: usize,
    dir: PathBuf,
    runs: Vec<File>,
    count: u64,
}

impl<T: Spill> Sorter<T> {
    pub(crate) fn new(budget: usize, dir: PathBuf) -> Sorter<T> {
        Sorter { buf: Vec::new(), mem: 0, budget: budget.max(1 << 16), dir, runs: Vec::new(), count: 0 }
    }

    pub(crate) fn push(&mut self, t: T) -> io::Result<()> {
        self.mem += t.mem();
        self.buf.push(t);
        self.count += 1;
        if self.mem >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Records pushed.
    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    /// Spill runs written so far.
    #[cfg(test)]
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buf.sort_unstable();
        let f = tempfile::tempfile_in(&self.dir)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut enc = Vec::new();
        for t in self.buf.drain(..) {
            enc.clear();
            t.encode(&mut enc);
            w.write_all(&enc)?;
        }
        let mut f = w.into_inner().map_err(|e| e.into_error())?;
        f.rewind()?;
        self.runs.push(f);
        self.mem = 0;
        self.buf = Vec::new();
        Ok(())
    }

    /// All records in order.
    pub(crate) fn finish(mut self) -> io::Result<Sorted<T>> {
        if self.runs.is_empty() {
            self.buf.sort_unstable();
            return Ok(Sorted::Mem(self.buf.into_iter()));
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        let mut readers: Vec<BufReader<File>> =
            self.runs.into_iter().map(|f| BufReader::with_capacity(1 << 18, f)).collect();
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(t) = T::decode(r)? {
                heap.push(Reverse((t, i)));
            }
        }
        Ok(Sorted::Runs { readers, heap })
    }
}

/// Records in sorted order.
pub(crate) enum Sorted<T: Spill> {
    Mem(std::vec::IntoIter<T>),
    Runs { readers: Vec<BufReader<File>>, heap: BinaryHeap<Reverse<(T, usize)>> },
}

impl<T: Spill> Sorted<T> {
    pub(crate) fn next_record(&mut self) -> io::Result<Option<T>> {
        match self {
            Sorted::Mem(it) => Ok(it.next()),
            Sorted::Runs { readers, heap } => {
                let Some(Reverse((t, i))) = heap.pop() else { return Ok(None) };
                if let Some(n) = T::decode(&mut readers[i])? {
                    heap.push(Reverse((n, i)));
                }
                Ok(Some(t))
            }
        }
    }
}

/// A peekable view of a sorted stream.
pub(crate) struct Peek<T: Spill> {
    s: Sorted<T>,
    head: Option<T>,
}

impl<T: Spill> Peek<T> {
    pub(crate) fn new(mut s: Sorted<T>) -> io::Result<Peek<T>> {
        let head = s.next_record()?;
        Ok(Peek { s, head })
    }

    pub(crate) fn peek(&self) -> Option<&T> {
        self.head.as_ref()
    }

    pub(crate) fn pop(&mut self) -> io::Result<Option<T>> {
        let next = self.s.next_record()?;
        Ok(std::mem::replace(&mut self.head, next))
    }
}

/// A pair of u64 (e.g. old ordinal, new ordinal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pair(pub u64, pub u64);

impl Spill for Pair {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.extend_from_slice(&self.1.to_le_bytes());
    }
    fn decode(r: &mut impl Read) -> io::Result<Option<Self>> {
        let Some(a) = read_first_u64(r)? else { return Ok(None) };
        Ok(Some(Pair(a, read_u64(r)?)))
    }
    fn mem(&self) -> usize {
        16
    }
}

/// A 128-bit hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct H(pub u128);

impl Spill for H {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn decode(r: &mut impl Read) -> io::Result<Option<Self>> {
        let Some(a) = read_first_u64(r)? else { return Ok(None) };
        let b = read_u64(r)?;
        Ok(Some(H(((b as u128) << 64) | a as u128)))
    }
    fn mem(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_and_merges_in_order() {
        let dir = std::env::temp_dir();
        let mut s = Sorter::new(1 << 16, dir);
        let mut x: u64 = 12345;
        let mut all = Vec::new();
        for _ in 0..50_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push(Pair(x >> 40, x & 0xff)).unwrap();
            all.push(Pair(x >> 40, x & 0xff));
        }
        assert!(s.runs() > 1);
        all.sort();
        let mut it = s.finish().unwrap();
        let mut got = Vec::new();
        while let Some(p) = it.next_record().unwrap() {
            got.push(p);
        }
        assert_eq!(got, all);
    }
}
