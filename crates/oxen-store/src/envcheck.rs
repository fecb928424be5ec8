//! Checking an LMDB data file before LMDB maps it.
//!
//! LMDB trusts its file: it maps a terabyte of address space over it and
//! follows page numbers into the map. A page past the end of a truncated
//! file is a SIGBUS that kills the process with no message, and an empty
//! file is silently initialised as a new, empty database (a repository
//! whose database was emptied would look like one with no commits). So
//! before LMDB sees a file, it is checked here: its two meta pages (magic,
//! version, page size), and that every page the newest meta can reach lies
//! inside the file.
//!
//! The fast check is arithmetic: the newest meta records the last page
//! used, and a file at least that long cannot send LMDB past its end.
//! LMDB's own comment on `mm_last_pg` warns that a healthy file may be a
//! little shorter ("if the freeDB lists the final pages": pages allocated
//! and freed in one transaction are never written). Only then is the file
//! walked page by page (with `pread`, never through a map) from every root,
//! which tells a healthy short file from a truncated one; a healthy one is
//! then extended with `fallocate` to the length its meta records (which
//! never changes or shrinks what is there), so the next open takes the fast
//! path again.
//!
//! The layout read here is LMDB 0.9's on 64-bit little-endian machines
//! (the vendored liblmdb, `MDB_DEVEL` off); elsewhere only the size and
//! emptiness checks run.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// What is wrong with an LMDB data file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbDamage {
    /// The file does not exist, though the repository does.
    #[error("the file is missing")]
    Missing,
    /// The file has no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The file is too short to hold LMDB's two meta pages.
    #[error("the file is {size} bytes, too short for a database header")]
    NoHeader {
        /// The file's length.
        size: u64,
    },
    /// A meta page does not carry LMDB's magic number, version or a
    /// sensible page size.
    #[error("it is not an LMDB file ({0})")]
    BadHeader(&'static str),
    /// A page the database needs lies past the end of the file: it was cut
    /// short.
    #[error("it is truncated: {size} bytes, but its page {page} lies past the end (it records {needed} bytes)")]
    Truncated {
        /// The file's length.
        size: u64,
        /// The length the newest meta page records.
        needed: u64,
        /// The first page found missing.
        page: u64,
    },
    /// A page is not what the tree that refers to it expects.
    #[error("page {page} is malformed ({why})")]
    BadPage {
        /// The page number.
        page: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The database holds none of the repository's tables: it was replaced
    /// by a new, empty one.
    #[error("it holds none of the repository's tables")]
    NoTables,
}

const MAGIC: u32 = 0xBEEF_C0DE;
const DATA_VERSION: u32 = 1;
/// Page header: pgno u64, pad u16, flags u16, lower u16, upper u16.
const PAGE_HEADER: usize = 16;
const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
const P_META: u16 = 0x08;
const P_LEAF2: u16 = 0x20;
/// Node header: lo u16, hi u16, flags u16, ksize u16.
const NODE_HEADER: usize = 8;
const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
const P_INVALID: u64 = u64::MAX;
/// Offset of `md_root` inside an `MDB_db` record.
const DB_ROOT: usize = 40;
/// Offsets inside the meta (after the page header): magic, version, the
/// free DB record (whose pad is the page size), the main DB record, last page, txnid.
const M_MAGIC: usize = 0;
const M_VERSION: usize = 4;
const M_FREE_DB: usize = 24;
const M_MAIN_DB: usize = 72;
const M_LAST_PG: usize = 120;
const M_TXNID: usize = 128;
const META_LEN: usize = 136;

/// The newest meta page, as far as the checks need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Meta {
    psize: u64,
    last_pg: u64,
    txnid: u64,
    roots: [u64; 2],
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Check the LMDB data file `path` (which must exist: callers decide what
/// a missing file means). I/O errors reading it are returned as such.
pub(crate) fn check(path: &Path) -> std::io::Result<Result<(), DbDamage>> {
    // A concurrent writer can extend the file and recycle pages between our
    // reads; a failed check is believed only once it repeats with the same
    // newest meta.
    let mut previous = None;
    let mut verdict = Ok(());
    for _ in 0..3 {
        let (meta, v) = check_once(path)?;
        if v.is_ok() || meta.is_none() || meta == previous {
            return Ok(v);
        }
        previous = meta;
        verdict = v;
    }
    Ok(verdict)
}

fn check_once(path: &Path) -> std::io::Result<(Option<Meta>, Result<(), DbDamage>)> {
    let f = File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok((None, Err(DbDamage::Empty)));
    }
    if !cfg!(all(target_pointer_width = "64", target_endian = "little")) {
        return Ok((None, Ok(())));
    }
    // The meta first, then the size: LMDB writes a commit's pages before its
    // meta, so a file read in this order is never shorter than its meta says
    // because of a commit in between.
    let meta = match read_meta(&f)? {
        Ok(m) => m,
        Err(d) => return Ok((None, Err(d))),
    };
    let size = f.metadata()?.len();
    let needed = (meta.last_pg + 1).saturating_mul(meta.psize);
    if size >= needed {
        return Ok((Some(meta), Ok(())));
    }
    // Shorter than recorded: healthy only if every reachable page is inside.
    match walk(&f, &meta, size) {
        Err(DbDamage::Truncated { page, .. }) => Ok((Some(meta), Err(DbDamage::Truncated { size, needed, page }))),
        Err(d) => Ok((Some(meta), Err(d))),
        Ok(()) => {
            // Only free pages are missing: give them room so later opens
            // take the fast path. fallocate never shrinks a file or changes
            // its bytes, so a writer extending it meanwhile loses nothing;
            // failing (read-only, unsupported) only means the walk runs
            // again next time.
            if let Ok(w) = std::fs::OpenOptions::new().write(true).open(path) {
                let _ = rustix::fs::fallocate(&w, rustix::fs::FallocateFlags::empty(), 0, needed);
            }
            Ok((Some(meta), Ok(())))
        }
    }
}

/// Read both meta pages and return the newer, as LMDB does.
fn read_meta(f: &File) -> std::io::Result<Result<Meta, DbDamage>> {
    let size = f.metadata()?.len();
    let mut buf = vec![0u8; PAGE_HEADER + META_LEN];
    if size < buf.len() as u64 {
        return Ok(Err(DbDamage::NoHeader { size }));
    }
    f.read_exact_at(&mut buf, 0)?;
    let first = match parse_meta(&buf) {
        Ok(m) => m,
        Err(d) => return Ok(Err(d)),
    };
    if size < first.psize + buf.len() as u64 {
        return Ok(Err(DbDamage::NoHeader { size }));
    }
    f.read_exact_at(&mut buf, first.psize)?;
    let second = match parse_meta(&buf) {
        Ok(m) => m,
        Err(d) => return Ok(Err(d)),
    };
    if second.psize != first.psize {
        return Ok(Err(DbDamage::BadHeader("its two meta pages disagree on the page size")));
    }
    Ok(Ok(if second.txnid > first.txnid { second } else { first }))
}

fn parse_meta(page: &[u8]) -> Result<Meta, DbDamage> {
    let bad = DbDamage::BadHeader;
    let flags = u16_at(page, 10).ok_or(bad("short meta page"))?;
    if flags & P_META == 0 {
        return Err(bad("no meta page where one belongs"));
    }
    let m = &page[PAGE_HEADER..];
    if u32_at(m, M_MAGIC) != Some(MAGIC) {
        return Err(bad("wrong magic number"));
    }
    if u32_at(m, M_VERSION) != Some(DATA_VERSION) {
        return Err(bad("unknown format version"));
    }
    let psize = u64::from(u32_at(m, M_FREE_DB).ok_or(bad("short meta page"))?);
    if !(512..=0x10000).contains(&psize) || !psize.is_power_of_two() {
        return Err(bad("impossible page size"));
    }
    let field = |off| u64_at(m, off).ok_or(bad("short meta page"));
    Ok(Meta {
        psize,
        last_pg: field(M_LAST_PG)?,
        txnid: field(M_TXNID)?,
        roots: [field(M_FREE_DB + DB_ROOT)?, field(M_MAIN_DB + DB_ROOT)?],
    })
}

/// Follow every tree from the meta's roots (the free list, the main
/// database and the named databases it holds), reading pages with pread,
/// and check that each page and overflow run lies inside a file of `size`
/// bytes.
fn walk(f: &File, meta: &Meta, size: u64) -> Result<(), DbDamage> {
    let psize = meta.psize as usize;
    let pages = size / meta.psize;
    let truncated = |page| DbDamage::Truncated { size, needed: 0, page };
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<u64> = meta.roots.iter().copied().filter(|r| *r != P_INVALID).collect();
    let mut page = vec![0u8; psize];
    while let Some(pg) = stack.pop() {
        if pg >= pages {
            return Err(truncated(pg));
        }
        if !seen.insert(pg) {
            return Err(DbDamage::BadPage { page: pg, why: "reached twice" });
        }
        let bad = |why| DbDamage::BadPage { page: pg, why };
        f.read_exact_at(&mut page, pg * meta.psize).map_err(|_| truncated(pg))?;
        if u64_at(&page, 0) != Some(pg) {
            return Err(bad("it holds another page number"));
        }
        let flags = u16_at(&page, 10).ok_or(bad("short"))?;
        let lower = u16_at(&page, 12).ok_or(bad("short"))? as usize;
        if flags & (P_BRANCH | P_LEAF) == 0 {
            return Err(bad("not a tree page"));
        }
        if flags & P_LEAF2 != 0 {
            continue;
        }
        let keys = lower.checked_sub(PAGE_HEADER).ok_or(bad("bad key count"))? / 2;
        for i in 0..keys {
            let off = u16_at(&page, PAGE_HEADER + 2 * i).ok_or(bad("bad node offset"))? as usize;
            let node = page.get(off..).filter(|n| n.len() >= NODE_HEADER).ok_or(bad("bad node offset"))?;
            let lo = u64::from(u16_at(node, 0).ok_or(bad("short node"))?);
            let hi = u64::from(u16_at(node, 2).ok_or(bad("short node"))?);
            let nflags = u16_at(node, 4).ok_or(bad("short node"))?;
            if flags & P_BRANCH != 0 {
                stack.push(lo | hi << 16 | u64::from(nflags) << 32);
                continue;
            }
            let ksize = u16_at(node, 6).ok_or(bad("short node"))? as usize;
            let data = &node[(NODE_HEADER + ksize).min(node.len())..];
            if nflags & F_BIGDATA != 0 {
                let first = u64_at(data, 0).ok_or(bad("short node"))?;
                check_overflow(f, first, pages, meta.psize).map_err(|d| match d {
                    DbDamage::Truncated { page, .. } => truncated(page),
                    d => d,
                })?;
            } else if nflags & F_SUBDATA != 0 {
                let root = u64_at(data, DB_ROOT).ok_or(bad("short database record"))?;
                if root != P_INVALID {
                    stack.push(root);
                }
            }
        }
    }
    Ok(())
}

fn check_overflow(f: &File, first: u64, pages: u64, psize: u64) -> Result<(), DbDamage> {
    if first >= pages {
        return Err(DbDamage::Truncated { size: 0, needed: 0, page: first });
    }
    let mut head = [0u8; PAGE_HEADER];
    f.read_exact_at(&mut head, first * psize).map_err(|_| DbDamage::Truncated { size: 0, needed: 0, page: first })?;
    let bad = |why| DbDamage::BadPage { page: first, why };
    if u64_at(&head, 0) != Some(first) || u16_at(&head, 10).is_none_or(|fl| fl & P_OVERFLOW == 0) {
        return Err(bad("not the overflow page its node names"));
    }
    let count = u64::from(u32_at(&head, 12).ok_or(bad("short"))?);
    let last = first.checked_add(count).and_then(|e| e.checked_sub(1)).ok_or(bad("empty overflow run"))?;
    if last >= pages {
        return Err(DbDamage::Truncated { size: 0, needed: 0, page: last });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh_env(dir: &Path, rows: usize) -> std::path::PathBuf {
        let env = lmdb::Environment::new().set_max_dbs(4).set_map_size(1 << 30).open(dir).unwrap();
        let db = env.create_db(Some("t"), lmdb::DatabaseFlags::empty()).unwrap();
        let mut txn = env.begin_rw_txn().unwrap();
        for i in 0..rows {
            // Some values big enough for overflow pages.
            let v = vec![i as u8; if i % 50 == 0 { 9000 } else { 100 }];
            txn.put(db, &format!("key{i:06}"), &v, lmdb::WriteFlags::empty()).unwrap();
        }
        lmdb::Transaction::commit(txn).unwrap();
        dir.join("data.mdb")
    }

    #[test]
    fn a_healthy_file_passes_and_damage_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = fresh_env(d.path(), 5000);
        assert_eq!(check(&p).unwrap(), Ok(()));
        let len = std::fs::metadata(&p).unwrap().len();

        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len / 2).unwrap();
        assert!(matches!(check(&p).unwrap(), Err(DbDamage::Truncated { .. })), "{:?}", check(&p));
        f.set_len(100).unwrap();
        assert_eq!(check(&p).unwrap(), Err(DbDamage::NoHeader { size: 100 }));
        f.set_len(0).unwrap();
        assert_eq!(check(&p).unwrap(), Err(DbDamage::Empty));
        std::fs::write(&p, vec![0x5a; 3 * 4096]).unwrap();
        assert!(matches!(check(&p).unwrap(), Err(DbDamage::BadHeader(_))));
    }

    /// Many transactions of inserts, overwrites and deletes (pages split,
    /// merge and are freed in the transaction that made them, values move
    /// to and from overflow pages, tables are cleared): the check passes
    /// after every commit. (In practice LMDB left the file short of its last
    /// page after none of these commits; the walk is the rare path, tested
    /// on a made-up short file below.)
    #[test]
    fn churn_never_looks_damaged() {
        let d = tempfile::tempdir().unwrap();
        let env = lmdb::Environment::new().set_max_dbs(8).set_map_size(1 << 30).open(d.path()).unwrap();
        let p = d.path().join("data.mdb");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..300u64 {
            let db = env.create_db(Some(&format!("t{}", round % 5)), lmdb::DatabaseFlags::empty()).unwrap();
            let mut txn = env.begin_rw_txn().unwrap();
            for _ in 0..(next() % 400) {
                let k = format!("k{:05}", next() % 3000);
                match next() % 4 {
                    0 => {
                        let _ = txn.del(db, &k, None);
                    }
                    1 => txn.put(db, &k, &vec![7u8; (next() % 20_000) as usize], lmdb::WriteFlags::empty()).unwrap(),
                    _ => txn.put(db, &k, &vec![3u8; (next() % 300) as usize], lmdb::WriteFlags::empty()).unwrap(),
                }
            }
            if round % 37 == 36 {
                txn.clear_db(db).unwrap();
            }
            lmdb::Transaction::commit(txn).unwrap();
            assert_eq!(check(&p).unwrap(), Ok(()), "round {round}");
        }
    }

    #[test]
    fn a_short_but_healthy_file_passes_and_is_extended() {
        // A file shorter than its meta records whose missing tail no tree
        // reaches (what LMDB leaves when the last pages were freed unwritten):
        // made by appending never-used page numbers to the recorded last page.
        let d = tempfile::tempdir().unwrap();
        let p = fresh_env(d.path(), 200);
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
        let meta = read_meta(&f).unwrap().unwrap();
        let size = f.metadata().unwrap().len();
        assert!(size >= (meta.last_pg + 1) * meta.psize);
        // Raise last_pg in both metas by three pages.
        for m in 0..2u64 {
            let off = m * meta.psize + (PAGE_HEADER + M_LAST_PG) as u64;
            let mut b = [0u8; 8];
            f.read_exact_at(&mut b, off).unwrap();
            let raised = u64::from_le_bytes(b).max(size / meta.psize - 1) + 3;
            f.write_all_at(&raised.to_le_bytes(), off).unwrap();
        }
        assert_eq!(check(&p).unwrap(), Ok(()));
        let meta = read_meta(&f).unwrap().unwrap();
        assert_eq!(f.metadata().unwrap().len(), (meta.last_pg + 1) * meta.psize, "extended to the recorded length");
        assert_eq!(check(&p).unwrap(), Ok(()));
    }
}
