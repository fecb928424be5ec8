//! The record codec: zstd when it pays, raw otherwise.
//!
//! Deciding costs little on data that does not compress: contents that start
//! like a compressed format (JPEG, PNG, GIF, WebP, MP4, gzip, zip, zstd, xz,
//! bzip2, 7z, lz4) are stored raw from their magic bytes alone, and anything
//! else of more than [`SAMPLE_FROM`] bytes is probed by compressing three
//! small samples (start, middle, end) at zstd's fastest level first. Parquet
//! has a magic too, but its pages may or may not be compressed, so it is
//! sampled like everything else; so is every chunk after a file's first
//! (random bytes and the middle of a JPEG have no magic). Only records that
//! pass the probe are compressed in full, and kept compressed only if that
//! saves at least 1/[`MIN_SAVING_FRACTION`] of their size.

use std::borrow::Cow;
use std::io;

/// How a record's bytes are stored. The tag is what the store records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Codec {
    /// The raw bytes.
    Raw = 0,
    /// One zstd frame of the raw bytes.
    Zstd = 1,
}

impl Codec {
    /// The one-byte tag stored with a record.
    pub fn tag(self) -> u8 {
        self as u8
    }

    /// The codec with this tag, if any.
    pub fn from_tag(tag: u8) -> Option<Codec> {
        match tag {
            0 => Some(Codec::Raw),
            1 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

/// zstd level for records. Level 1, not zstd's default 3: on the numeric
/// CSV of `tests/measure.rs` it was 1.4x faster (120 vs 87 MB/s a core) and
/// stored no more (0.415 vs 0.438 of raw), well inside the 0.6x target.
pub const ZSTD_LEVEL: i32 = 1;
/// Records shorter than this are stored raw: a zstd frame's overhead eats
/// what little they could save.
pub const MIN_COMPRESS_LEN: usize = 64;
/// Records longer than this are sampled before a full attempt.
pub const SAMPLE_FROM: usize = 16 * 1024;
/// Bytes in each of the three samples.
const SAMPLE_LEN: usize = 4 * 1024;
/// A compressed record is kept only if it saves at least 1/32 (~3%).
pub const MIN_SAVING_FRACTION: usize = 32;
/// The largest record [`decode`] inflates: far above the largest chunk and
/// the chunking threshold, so a damaged length cannot make it allocate
/// without bound.
pub const MAX_DECODED_LEN: u64 = 64 << 20;

/// A record as stored.
#[derive(Debug, PartialEq, Eq)]
pub struct Encoded<'a> {
    /// How `bytes` encodes the raw record.
    pub codec: Codec,
    /// The stored bytes.
    pub bytes: Cow<'a, [u8]>,
}

/// Why stored bytes do not decode to the record they claim to be.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The stored bytes are not a valid zstd frame of the claimed length.
    #[error("corrupt compressed record: {0}")]
    Corrupt(String),
    /// The record decodes to a different length than recorded.
    #[error("record decodes to {got} bytes, expected {want}")]
    Length {
        /// Bytes decoded.
        got: u64,
        /// Bytes expected.
        want: u64,
    },
    /// The recorded raw length is beyond [`MAX_DECODED_LEN`].
    #[error("record length {0} is beyond the largest record")]
    TooLong(u64),
}

/// The compressed formats recognised by their first bytes, with their names.
const MAGICS: &[(usize, &[u8], &str)] = &[
    (0, b"\xFF\xD8\xFF", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF8", "gif"),
    (8, b"WEBP", "webp"),
    (4, b"ftyp", "mp4"),
    (0, b"\x1A\x45\xDF\xA3", "matroska"),
    (0, b"\x1F\x8B", "gzip"),
    (0, b"PK\x03\x04", "zip"),
    (0, b"\x28\xB5\x2F\xFD", "zstd"),
    (0, b"\xFD7zXZ\x00", "xz"),
    (0, b"BZh", "bzip2"),
    (0, b"7z\xBC\xAF\x27\x1C", "7z"),
    (0, b"\x04\x22\x4D\x18", "lz4"),
    (0, b"OggS", "ogg"),
    (0, b"fLaC", "flac"),
];

/// The name of the compressed format `data` starts like, if any.
pub fn compressed_format(data: &[u8]) -> Option<&'static str> {
    MAGICS.iter().find(|(at, magic, _)| data.get(*at..at + magic.len()) == Some(*magic)).map(|(_, _, name)| *name)
}

/// Encodes records, reusing zstd contexts across calls (one per thread).
pub struct Encoder {
    full: zstd::bulk::Compressor<'static>,
    probe: zstd::bulk::Compressor<'static>,
    sample: Vec<u8>,
}

impl Encoder {
    /// A new encoder at [`ZSTD_LEVEL`].
    pub fn new() -> io::Result<Encoder> {
        Encoder::with_level(ZSTD_LEVEL)
    }

    /// A new encoder compressing at another zstd level (for measurement).
    pub fn with_level(level: i32) -> io::Result<Encoder> {
        Ok(Encoder {
            full: zstd::bulk::Compressor::new(level)?,
            probe: zstd::bulk::Compressor::new(1)?,
            sample: Vec::with_capacity(3 * SAMPLE_LEN),
        })
    }

    /// Whether `data` is worth a full compression attempt.
    pub fn worth_compressing(&mut self, data: &[u8]) -> io::Result<bool> {
        if data.len() < MIN_COMPRESS_LEN || compressed_format(data).is_some() {
            return Ok(false);
        }
        if data.len() <= SAMPLE_FROM {
            return Ok(true);
        }
        self.sample.clear();
        let mid = data.len() / 2 - SAMPLE_LEN / 2;
        for at in [0, mid, data.len() - SAMPLE_LEN] {
            self.sample.extend_from_slice(&data[at..at + SAMPLE_LEN]);
        }
        let probed = self.probe.compress(&self.sample)?;
        // The probe runs at the fastest level on little data, so be lenient:
        // a sample that saves 10% predicts a worthwhile full attempt.
        Ok(probed.len() * 10 <= self.sample.len() * 9)
    }

    /// Encodes one record: zstd if that saves enough, else the raw bytes.
    pub fn encode<'a>(&mut self, data: &'a [u8]) -> io::Result<Encoded<'a>> {
        if self.worth_compressing(data)? {
            let packed = self.full.compress(data)?;
            if packed.len() <= data.len() - data.len() / MIN_SAVING_FRACTION {
                return Ok(Encoded { codec: Codec::Zstd, bytes: Cow::Owned(packed) });
            }
        }
        Ok(Encoded { codec: Codec::Raw, bytes: Cow::Borrowed(data) })
    }
}

/// Decodes a stored record of `raw_len` bytes. The caller still verifies the
/// result against the record's id: a codec cannot know the bytes are right,
/// only that they have the right shape.
pub fn decode(codec: Codec, stored: &[u8], raw_len: u64) -> Result<Cow<'_, [u8]>, CodecError> {
    if raw_len > MAX_DECODED_LEN {
        return Err(CodecError::TooLong(raw_len));
    }
    let out = match codec {
        Codec::Raw => Cow::Borrowed(stored),
        Codec::Zstd => {
            // `raw_len` is bounded above, so this capacity is too; a frame
            // that inflates past it is an error, not a bigger allocation.
            let mut d = zstd::bulk::Decompressor::new().map_err(|e| CodecError::Corrupt(e.to_string()))?;
            Cow::Owned(d.decompress(stored, raw_len as usize).map_err(|e| CodecError::Corrupt(e.to_string()))?)
        }
    };
    if out.len() as u64 != raw_len {
        return Err(CodecError::Length { got: out.len() as u64, want: raw_len });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::noise;
    use proptest::prelude::*;

    fn csv(rows: usize) -> Vec<u8> {
        let mut s = String::from("id,label,score\n");
        for i in 0..rows {
            s.push_str(&format!("{i},cat_{},{:.4}\n", i % 7, (i as f64).sin()));
        }
        s.into_bytes()
    }

    #[test]
    fn text_is_compressed_and_round_trips() {
        let mut e = Encoder::new().unwrap();
        let data = csv(5000);
        let enc = e.encode(&data).unwrap();
        assert_eq!(enc.codec, Codec::Zstd);
        assert!(enc.bytes.len() * 3 < data.len());
        assert_eq!(decode(enc.codec, &enc.bytes, data.len() as u64).unwrap(), &data[..]);
    }

    #[test]
    fn random_and_known_formats_stay_raw() {
        let mut e = Encoder::new().unwrap();
        let random = noise(5, 200_000);
        assert!(!e.worth_compressing(&random).unwrap(), "sampling must reject random bytes");
        assert_eq!(e.encode(&random).unwrap().codec, Codec::Raw);
        // A gzip header in front of very compressible bytes: the magic alone decides.
        let mut gz = b"\x1F\x8B\x08\x00".to_vec();
        gz.extend_from_slice(&[b'a'; 100_000]);
        assert_eq!(compressed_format(&gz), Some("gzip"));
        assert_eq!(e.encode(&gz).unwrap().codec, Codec::Raw);
        assert_eq!(compressed_format(b"\0\0\0\x18ftypmp42"), Some("mp4"));
        assert_eq!(compressed_format(b"PAR1"), None);
        assert_eq!(e.encode(b"tiny").unwrap(), Encoded { codec: Codec::Raw, bytes: Cow::Borrowed(b"tiny") });
    }

    #[test]
    fn corrupt_or_misdescribed_records_are_errors() {
        let mut e = Encoder::new().unwrap();
        let data = csv(2000);
        let enc = e.encode(&data).unwrap();
        let n = data.len() as u64;
        assert!(matches!(decode(Codec::Zstd, &enc.bytes, n - 1), Err(CodecError::Corrupt(_))));
        assert!(decode(Codec::Zstd, &enc.bytes, n + 1).is_err());
        assert!(decode(Codec::Zstd, &enc.bytes[..enc.bytes.len() / 2], n).is_err());
        assert!(matches!(decode(Codec::Raw, b"abc", 4), Err(CodecError::Length { got: 3, want: 4 })));
        assert!(matches!(decode(Codec::Zstd, b"", u64::MAX), Err(CodecError::TooLong(_))));
    }

    #[test]
    fn codec_tags_round_trip() {
        for c in [Codec::Raw, Codec::Zstd] {
            assert_eq!(Codec::from_tag(c.tag()), Some(c));
        }
        assert_eq!(Codec::from_tag(2), None);
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips(data in proptest::collection::vec(0u8..4, 0..40_000)) {
            let mut e = Encoder::new().unwrap();
            let enc = e.encode(&data).unwrap();
            prop_assert!(enc.bytes.len() <= data.len());
            prop_assert_eq!(decode(enc.codec, &enc.bytes, data.len() as u64).unwrap(), &data[..]);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), len in 0u64..100_000) {
            let _ = decode(Codec::Zstd, &bytes, len);
        }
    }
}
