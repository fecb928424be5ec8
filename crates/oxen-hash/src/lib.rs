//! Content ids for Oxen: the xxh3-128 hash of some bytes, shown as 32
//! lowercase hex characters.
//!
//! Everything Oxen stores is addressed by one of these: file contents in the
//! versions store, and the canonical encodings of trees and commits.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use xxhash_rust::xxh3::Xxh3;

/// Size of the read buffer used when streaming a file through the hasher.
/// Large enough that syscalls are not the bottleneck, small enough that
/// memory stays bounded no matter how big the file is.
pub const CHUNK: usize = 1 << 20;

/// A 128-bit content id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ContentId(pub [u8; 16]);

/// Why a string is not a content id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// The text is not 32 hex digits; ids are never abbreviated where a
    /// full one is required, so a typo cannot silently match another id.
    #[error("malformed id '{0}': expected 32 hex characters")]
    Malformed(String),
}

impl ContentId {
    /// Number of hex characters in the text form.
    pub const HEX_LEN: usize = 32;
    /// Number of hex characters in the abbreviated form shown to people.
    pub const SHORT_LEN: usize = 10;

    /// Hash a byte slice.
    pub fn of(bytes: &[u8]) -> ContentId {
        ContentId(xxhash_rust::xxh3::xxh3_128(bytes).to_be_bytes())
    }

    /// Hash everything a reader yields, in bounded memory.
    pub fn of_reader<R: Read>(reader: R) -> io::Result<(ContentId, u64)> {
        copy_hashing(reader, &mut io::sink()).map_err(CopyError::into_inner)
    }

    /// Hash a file on disk, streaming it.
    pub fn of_file(path: &std::path::Path) -> io::Result<(ContentId, u64)> {
        ContentId::of_reader(std::fs::File::open(path)?)
    }

    /// The 32-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        for b in self.0 {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        s
    }

    /// The first [`ContentId::SHORT_LEN`] hex characters: what people read in
    /// logs and messages, long enough to be unique in practice.
    pub fn short(&self) -> String {
        let mut s = self.to_hex();
        s.truncate(Self::SHORT_LEN);
        s
    }

    /// Parse the full 32-character hex form.
    pub fn from_hex(s: &str) -> Result<ContentId, IdError> {
        let bad = || IdError::Malformed(s.to_string());
        if s.len() != 32 {
            return Err(bad());
        }
        let mut out = [0u8; 16];
        let bytes = s.as_bytes();
        for i in 0..16 {
            let hi = hex_val(bytes[2 * i]).ok_or_else(bad)?;
            let lo = hex_val(bytes[2 * i + 1]).ok_or_else(bad)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(ContentId(out))
    }

    /// Raw bytes, as used for LMDB keys.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Rebuild from raw bytes; `None` unless exactly 16 bytes.
    pub fn from_slice(b: &[u8]) -> Option<ContentId> {
        let arr: [u8; 16] = b.try_into().ok()?;
        Some(ContentId(arr))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Which side of a [`copy_hashing`] failed.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the source failed.
    Read(io::Error),
    /// Writing the destination failed.
    Write(io::Error),
}

impl CopyError {
    /// The underlying I/O error.
    pub fn into_inner(self) -> io::Error {
        match self {
            CopyError::Read(e) | CopyError::Write(e) => e,
        }
    }
}

/// Copy `reader` into `writer` one chunk at a time, hashing on the way: the
/// one loop behind hashing, storing and receiving contents, with memory
/// bounded by the chunk size whatever the length.
pub fn copy_hashing<R: Read, W: Write + ?Sized>(mut reader: R, writer: &mut W) -> Result<(ContentId, u64), CopyError> {
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
    Ok((hasher.finish(), hasher.len()))
}

/// True when `s` is a non-empty string of hex digits of at most 32 chars,
/// i.e. something that could be an abbreviated id.
pub fn is_hex_prefix(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|c| hex_val(c).is_some())
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentId({})", self.to_hex())
    }
}

impl FromStr for ContentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContentId::from_hex(s)
    }
}

/// Incremental hasher for content that arrives in pieces (streamed files,
/// pack frames).
pub struct Hasher {
    inner: Box<Xxh3>,
    len: u64,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher { inner: Box::new(Xxh3::new()), len: 0 }
    }
    /// Feed more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }
    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// True if nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The id of everything fed.
    pub fn finish(&self) -> ContentId {
        ContentId(self.inner.digest128().to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ContentId::of(b"hello");
        assert_eq!(ContentId::from_hex(&id.to_hex()).unwrap(), id);
        assert_eq!(id.to_hex().len(), 32);
        assert_eq!(id.short(), id.to_hex()[..10]);
    }

    #[test]
    fn streaming_matches_one_shot() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7) as u8).collect();
        let (id, len) = ContentId::of_reader(&data[..]).unwrap();
        assert_eq!(len, data.len() as u64);
        assert_eq!(id, ContentId::of(&data));
    }

    #[test]
    fn rejects_malformed() {
        assert!(ContentId::from_hex("xyz").is_err());
        assert!(ContentId::from_hex(&"g".repeat(32)).is_err());
    }
}
