//! The chunk-list encoding: which chunks, in order, make up a chunked file.
//!
//! ```text
//! magic    4 bytes   "OXCL"
//! version  1 byte    1
//! count    u32 LE    number of chunks
//! total    u64 LE    the file's length = the sum of the chunk lengths
//! count × (id 16 bytes, len u32 LE)
//! ```
//!
//! Fixed widths and no optional parts make the encoding canonical: one list,
//! one byte string, so the list's own bytes can be hashed and compared. The
//! decoder checks everything (magic, version, exact length, every chunk
//! length in 1..=[`MAX_CHUNK_LEN`], the total) and never allocates more than
//! its input implies, so a list from a peer or a damaged disk is refused
//! with an error, never a panic.

use oxen_hash::ContentId;

const MAGIC: &[u8; 4] = b"OXCL";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 4 + 8;
const ENTRY_LEN: usize = 16 + 4;

/// The longest chunk a list may name: FastCDC's largest maximum (16 MiB).
/// Readers size buffers by chunk lengths, so a list cannot ask for more.
pub const MAX_CHUNK_LEN: u32 = 16 << 20;

/// One chunk of a file: its id and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    /// xxh3-128 of the chunk's bytes.
    pub id: ContentId,
    /// The chunk's length in bytes (1..=[`MAX_CHUNK_LEN`]).
    pub len: u32,
}

/// The chunks of a file, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkList {
    chunks: Vec<ChunkRef>,
    total: u64,
}

/// Why bytes are not a chunk list, or chunks cannot form one.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkListError {
    /// The bytes do not start with the chunk-list magic.
    #[error("not a chunk list (bad magic)")]
    BadMagic,
    /// A chunk list of a version this build does not read.
    #[error("chunk list version {0} is not supported")]
    UnsupportedVersion(u8),
    /// The length does not match the header's chunk count.
    #[error("chunk list is {got} bytes, its header says {want}")]
    BadLength {
        /// Bytes present.
        got: usize,
        /// Bytes the header implies.
        want: u64,
    },
    /// A chunk of length zero or above [`MAX_CHUNK_LEN`].
    #[error("chunk {index} has invalid length {len}")]
    BadChunkLen {
        /// Position of the chunk in the list.
        index: usize,
        /// Its length.
        len: u32,
    },
    /// The chunk lengths do not add up to the recorded total.
    #[error("chunk lengths do not add up to the total {0}")]
    BadTotal(u64),
}

impl ChunkList {
    /// A list of these chunks; refuses empty or oversized chunks.
    pub fn new(chunks: Vec<ChunkRef>) -> Result<ChunkList, ChunkListError> {
        let mut total = 0u64;
        for (index, c) in chunks.iter().enumerate() {
            if c.len == 0 || c.len > MAX_CHUNK_LEN {
                return Err(ChunkListError::BadChunkLen { index, len: c.len });
            }
            // Cannot overflow: at most u32::MAX entries of at most 2^24 bytes.
            total += u64::from(c.len);
        }
        if u32::try_from(chunks.len()).is_err() {
            return Err(ChunkListError::BadLength { got: chunks.len(), want: u64::from(u32::MAX) });
        }
        Ok(ChunkList { chunks, total })
    }

    /// The chunks in file order.
    pub fn chunks(&self) -> &[ChunkRef] {
        &self.chunks
    }

    /// The file's length: the sum of the chunk lengths.
    pub fn total_len(&self) -> u64 {
        self.total
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN * self.chunks.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        // `new` guarantees the count fits.
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.total.to_le_bytes());
        for c in &self.chunks {
            out.extend_from_slice(c.id.as_bytes());
            out.extend_from_slice(&c.len.to_le_bytes());
        }
        out
    }

    /// Decodes and checks an encoding made by [`ChunkList::encode`].
    pub fn decode(bytes: &[u8]) -> Result<ChunkList, ChunkListError> {
        if bytes.len() < 5 || &bytes[..4] != MAGIC {
            return Err(ChunkListError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(ChunkListError::UnsupportedVersion(bytes[4]));
        }
        let Some(header) = bytes.get(..HEADER_LEN) else {
            return Err(ChunkListError::BadLength { got: bytes.len(), want: HEADER_LEN as u64 });
        };
        let count = u32::from_le_bytes([header[5], header[6], header[7], header[8]]);
        let mut total = [0u8; 8];
        total.copy_from_slice(&header[9..17]);
        let total = u64::from_le_bytes(total);
        let want = HEADER_LEN as u64 + u64::from(count) * ENTRY_LEN as u64;
        if bytes.len() as u64 != want {
            return Err(ChunkListError::BadLength { got: bytes.len(), want });
        }
        let chunks = bytes[HEADER_LEN..]
            .chunks_exact(ENTRY_LEN)
            .map(|e| {
                let mut id = [0u8; 16];
                id.copy_from_slice(&e[..16]);
                ChunkRef { id: ContentId(id), len: u32::from_le_bytes([e[16], e[17], e[18], e[19]]) }
            })
            .collect();
        let list = ChunkList::new(chunks)?;
        if list.total != total {
            return Err(ChunkListError::BadTotal(total));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunk_ref() -> impl Strategy<Value = ChunkRef> {
        (any::<[u8; 16]>(), 1..=MAX_CHUNK_LEN).prop_map(|(id, len)| ChunkRef { id: ContentId(id), len })
    }

    proptest! {
        #[test]
        fn round_trips(chunks in proptest::collection::vec(chunk_ref(), 0..64)) {
            let list = ChunkList::new(chunks.clone()).unwrap();
            let bytes = list.encode();
            let back = ChunkList::decode(&bytes).unwrap();
            prop_assert_eq!(back.chunks(), &chunks[..]);
            prop_assert_eq!(back.total_len(), chunks.iter().map(|c| u64::from(c.len)).sum::<u64>());
            // Canonical: decoding then encoding gives the same bytes.
            prop_assert_eq!(back.encode(), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = ChunkList::decode(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_a_valid_header_never_panic(
            count in any::<u32>(), total in any::<u64>(),
            rest in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut bytes = b"OXCL\x01".to_vec();
            bytes.extend_from_slice(&count.to_le_bytes());
            bytes.extend_from_slice(&total.to_le_bytes());
            bytes.extend_from_slice(&rest);
            if let Ok(list) = ChunkList::decode(&bytes) {
                prop_assert_eq!(list.encode(), bytes);
            }
        }

        #[test]
        fn any_single_byte_flip_is_refused_or_changes_the_list(
            chunks in proptest::collection::vec(chunk_ref(), 1..8), pos in any::<prop::sample::Index>(), flip in 1u8..,
        ) {
            let list = ChunkList::new(chunks).unwrap();
            let mut bytes = list.encode();
            let i = pos.index(bytes.len());
            bytes[i] ^= flip;
            if let Ok(other) = ChunkList::decode(&bytes) {
                prop_assert_ne!(other, list);
            }
        }
    }

    #[test]
    fn malformed_lists_are_refused_with_the_reason() {
        let list = ChunkList::new(vec![ChunkRef { id: ContentId::of(b"a"), len: 10 }]).unwrap();
        let good = list.encode();
        assert_eq!(ChunkList::decode(b"OXC"), Err(ChunkListError::BadMagic));
        assert_eq!(ChunkList::decode(b"PAR1xxxxxxxxxxxxxxxx"), Err(ChunkListError::BadMagic));
        let mut v2 = good.clone();
        v2[4] = 2;
        assert_eq!(ChunkList::decode(&v2), Err(ChunkListError::UnsupportedVersion(2)));
        assert!(matches!(ChunkList::decode(&good[..good.len() - 1]), Err(ChunkListError::BadLength { .. })));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(ChunkList::decode(&long), Err(ChunkListError::BadLength { .. })));
        let mut total = good.clone();
        total[9] = 11;
        assert_eq!(ChunkList::decode(&total), Err(ChunkListError::BadTotal(11)));
        let mut zero = good.clone();
        let n = zero.len();
        zero[n - 4..].copy_from_slice(&0u32.to_le_bytes());
        zero[9..17].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(ChunkList::decode(&zero), Err(ChunkListError::BadChunkLen { index: 0, len: 0 }));
        // A huge count in a short input is refused before any allocation.
        let mut huge = good[..HEADER_LEN].to_vec();
        huge[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(ChunkList::decode(&huge), Err(ChunkListError::BadLength { .. })));
        assert_eq!(ChunkList::decode(&good), Ok(list));
    }
}
