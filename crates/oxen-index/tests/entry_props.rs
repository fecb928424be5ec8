//! Property tests for the index entry decoder (it reads whatever the index
//! table holds): valid entries round-trip, and arbitrary bytes never make it
//! panic.

use oxen_hash::ContentId;
use oxen_index::{FileStat, IndexEntry, Tracking};
use oxen_object::{Column, TabularMeta};
use proptest::collection::vec;
use proptest::prelude::*;

/// `cases` per property, unless PROPTEST_CASES asks for more (a deep run).
fn config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    c
}

/// Arbitrary Unicode text (chars are drawn directly, not through a regex:
/// cheaper, and regex-syntax is compiled unoptimised).
fn text(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

fn tabular() -> impl Strategy<Value = TabularMeta> {
    use oxen_object::{ColumnType, TabularFormat};
    let dtype = prop::sample::select(vec![
        ColumnType::Int,
        ColumnType::Float,
        ColumnType::Bool,
        ColumnType::Str,
        ColumnType::Null,
    ]);
    let format = prop::sample::select(vec![
        TabularFormat::Csv,
        TabularFormat::Tsv,
        TabularFormat::Jsonl,
        TabularFormat::Parquet,
    ]);
    let column = (text(12), dtype).prop_map(|(name, dtype)| Column { name, dtype });
    (format, vec(column, 0..4), any::<u64>()).prop_map(|(format, columns, rows)| TabularMeta { format, columns, rows })
}

fn entry() -> impl Strategy<Value = IndexEntry> {
    let stat = (any::<u64>(), any::<i64>(), any::<i64>(), any::<u64>(), any::<u32>())
        .prop_map(|(size, mtime_ns, ctime_ns, inode, mode)| FileStat { size, mtime_ns, ctime_ns, inode, mode });
    let tracking = prop_oneof![Just(Tracking::Regular), Just(Tracking::Tabular)];
    (any::<[u8; 16]>(), stat, tracking, prop::option::of(tabular()))
        .prop_map(|(id, stat, tracking, tabular)| IndexEntry { id: ContentId(id), stat, tracking, tabular })
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn entry_round_trips(e in entry()) {
        prop_assert_eq!(IndexEntry::decode(&e.encode()), Some(e));
    }
}

proptest! {
    #![proptest_config(config(4096))]

    #[test]
    fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..160)) {
        // Whatever decodes survives another round trip.
        if let Some(e) = IndexEntry::decode(&b) {
            prop_assert_eq!(IndexEntry::decode(&e.encode()), Some(e));
        }
    }

    #[test]
    fn arbitrary_metadata_never_panics(e in entry(), tail in vec(any::<u8>(), 0..120)) {
        // A valid fixed part followed by arbitrary bytes where the JSON goes.
        let mut b = e.encode();
        b.truncate(53);
        b.extend_from_slice(&tail);
        if let Some(d) = IndexEntry::decode(&b) {
            prop_assert_eq!(IndexEntry::decode(&d.encode()), Some(d));
        }
    }
}
