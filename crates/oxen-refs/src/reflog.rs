//! The reflog: every move of HEAD and of every ref, kept in the `reflog`
//! table and appended in the same LMDB transaction that moves the ref, so a
//! ref never moves without its entry (HEAD, a file, is written while that
//! transaction holds the writer lock, before it commits).
//!
//! Key: the log's name (`HEAD` or a full ref name, neither of which can hold
//! a NUL), a NUL, and a big-endian u64 sequence number, so one log is one
//! key range in order and its end is found with one seek. Value: one line
//! of text, as git writes its logs:
//!
//! ```text
//! <old id> <new id> <name> <<email>> <unix seconds> <+hhmm>\t<message>
//! ```
//!
//! with 32 zeros for "none" (a ref created or deleted, an unborn HEAD).
//! Old and new ids of every entry are roots for gc: a commit that any entry
//! names stays reachable until the entry expires ([`ExpirePolicy`],
//! `Refs::expire_reflogs`; see docs/ARCHITECTURE.md).

use std::fmt;

use oxen_hash::ContentId;
use oxen_object::{format_tz, parse_tz};
use oxen_store::{Layout, Prune, Table, WriteTxn};

use crate::{RefError, RefName, Result};

/// Whose log: HEAD's, or one ref's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogName {
    /// HEAD: every commit HEAD pointed at, whatever branch it was on.
    Head,
    /// A branch, tag or remote-tracking ref.
    Ref(RefName),
}

impl LogName {
    /// The name the log is stored (and shown) under.
    pub fn as_str(&self) -> &str {
        match self {
            LogName::Head => "HEAD",
            LogName::Ref(r) => r.as_str(),
        }
    }

    /// `<name>` NUL: the key prefix of this log's entries.
    pub(crate) fn prefix(&self) -> Vec<u8> {
        let mut k = self.as_str().as_bytes().to_vec();
        k.push(0);
        k
    }

    fn key(&self, seq: u64) -> Vec<u8> {
        let mut k = self.prefix();
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }
}

impl fmt::Display for LogName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who moved a ref (git's committer identity). Never empty in practice:
/// without a configured identity the login name is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// Name.
    pub name: String,
    /// Email (may be empty).
    pub email: String,
}

impl Ident {
    /// An identity, with the characters the entry format cannot hold
    /// (`<`, `>`, newlines, tabs) dropped.
    pub fn new(name: &str, email: &str) -> Ident {
        let clean = |s: &str| s.chars().filter(|c| !matches!(c, '<' | '>' | '\n' | '\r' | '\t')).collect::<String>();
        Ident { name: clean(name).trim().to_string(), email: clean(email).trim().to_string() }
    }

    /// Who is moving refs in `layout`: `OXEN_AUTHOR_NAME`/`OXEN_AUTHOR_EMAIL`,
    /// else the repository's config over the global one, else the login
    /// name. Unlike a commit's author this never fails: recording a
    /// checkout must not need an identity.
    pub fn for_repo(layout: &Layout) -> Ident {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let cfg = oxen_store::repo_config(&layout.config_file()).unwrap_or_default();
        let nonempty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let name = env("OXEN_AUTHOR_NAME")
            .or_else(|| nonempty(cfg.user.name.clone()))
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .unwrap_or_else(|| "unknown".into());
        let email = env("OXEN_AUTHOR_EMAIL").or_else(|| nonempty(cfg.user.email)).unwrap_or_default();
        Ident::new(&name, &email)
    }
}

/// One entry of a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReflogEntry {
    /// The value before (`None`: the ref did not exist, or HEAD was unborn).
    pub old: Option<ContentId>,
    /// The value after (`None`: the ref was deleted, or HEAD is unborn).
    pub new: Option<ContentId>,
    /// Who moved it.
    pub who: Ident,
    /// When, in seconds since the Unix epoch.
    pub time: i64,
    /// Their offset from UTC in minutes.
    pub tz_minutes: i32,
    /// Why, one line: `commit: <summary>`, `checkout: moving from a to b`, ...
    pub message: String,
}

const NONE_HEX: &str = "00000000000000000000000000000000";

impl ReflogEntry {
    /// The stored form (one line).
    pub fn encode(&self) -> Vec<u8> {
        let id = |i: Option<ContentId>| i.map(|i| i.to_hex()).unwrap_or_else(|| NONE_HEX.into());
        format!(
            "{} {} {} <{}> {} {}\t{}",
            id(self.old),
            id(self.new),
            self.who.name,
            self.who.email,
            self.time,
            format_tz(self.tz_minutes),
            self.message
        )
        .into_bytes()
    }

    /// Parse the stored form.
    pub fn decode(bytes: &[u8]) -> std::result::Result<ReflogEntry, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let (head, message) = text.split_once('\t').ok_or("no tab before the message")?;
        let id = |s: Option<&str>| -> std::result::Result<Option<ContentId>, String> {
            let s = s.ok_or("too short")?;
            if s == NONE_HEX {
                return Ok(None);
            }
            ContentId::from_hex(s).map(Some).map_err(|e| e.to_string())
        };
        let mut parts = head.splitn(3, ' ');
        let old = id(parts.next())?;
        let new = id(parts.next())?;
        let rest = parts.next().ok_or("no identity")?;
        let lt = rest.find('<').ok_or("no '<' in the identity")?;
        let gt = rest.rfind('>').ok_or("no '>' in the identity")?;
        if gt < lt {
            return Err("bad identity".into());
        }
        let name = rest[..lt].trim_end().to_string();
        let email = rest[lt + 1..gt].to_string();
        let when: Vec<&str> = rest[gt + 1..].split_whitespace().collect();
        let [time, tz] = when[..] else { return Err("bad time".into()) };
        let time: i64 = time.parse().map_err(|_| "bad time")?;
        let tz_minutes = parse_tz(tz).ok_or("bad time zone")?;
        Ok(ReflogEntry { old, new, who: Ident { name, email }, time, tz_minutes, message: message.to_string() })
    }
}

/// One line, whatever the caller passed: a message is shown after
/// `HEAD@{N}: ` and must not break the entry format.
pub(crate) fn one_line(message: &str) -> String {
    message.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The current time and UTC offset, for a new entry.
pub(crate) fn now() -> (i64, i32) {
    use chrono::{Local, Offset};
    let now = Local::now();
    (now.timestamp(), now.offset().fix().local_minus_utc() / 60)
}

/// Append `entry` to `log` inside `txn`, after its last entry.
pub(crate) fn append(txn: &mut WriteTxn<'_>, log: &LogName, entry: &ReflogEntry) -> Result<()> {
    let prefix = log.prefix();
    let next = match txn.last_with_prefix(Table::Reflog, &prefix)? {
        Some((k, _)) => {
            let seq: [u8; 8] = k[prefix.len()..].try_into().map_err(|_| {
                RefError::BadReflog(log.to_string(), "an entry's key is not name + NUL + 8-byte sequence".into())
            })?;
            u64::from_be_bytes(seq) + 1
        }
        None => 0,
    };
    txn.put(Table::Reflog, &log.key(next), &entry.encode())?;
    Ok(())
}

/// Split a stored key into its log's name and sequence number.
pub(crate) fn split_key(key: &[u8]) -> Option<(&[u8], u64)> {
    let nul = key.iter().position(|b| *b == 0)?;
    let seq: [u8; 8] = key[nul + 1..].try_into().ok()?;
    Some((&key[..nul], u64::from_be_bytes(seq)))
}

/// How long reflog entries are kept (git's `gc.reflogExpire` and
/// `gc.reflogExpireUnreachable`), written as gc's `--prune` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpirePolicy {
    /// Any entry older than this is expired (default 90 days).
    pub expire: Prune,
    /// An entry naming a commit its log's ref no longer reaches is expired
    /// when older than this (default 30 days). Every entry of a deleted
    /// ref's log counts as unreachable.
    pub expire_unreachable: Prune,
}

impl ExpirePolicy {
    /// git's defaults: 90 days for every entry, 30 for unreachable ones.
    pub const DEFAULT: ExpirePolicy = ExpirePolicy {
        expire: Prune::OlderThan(std::time::Duration::from_secs(90 * 86_400)),
        expire_unreachable: Prune::OlderThan(std::time::Duration::from_secs(30 * 86_400)),
    };
}

impl Default for ExpirePolicy {
    fn default() -> ExpirePolicy {
        ExpirePolicy::DEFAULT
    }
}

/// Whether an entry written at `time` is past `limit` at `now` (both in
/// Unix seconds). `now` expires everything, as in git, even an entry
/// written this second; an entry from the future is never past a limit.
pub(crate) fn past(limit: Prune, time: i64, now: i64) -> bool {
    match limit {
        Prune::Now => true,
        Prune::Never => false,
        Prune::OlderThan(d) => now.checked_sub(time).is_some_and(|age| age > 0 && age as u64 > d.as_secs()),
    }
}

/// Which logs `reflog expire` works on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSelection {
    /// Every log, deleted refs' included (`--all`).
    All,
    /// These logs only.
    Only(Vec<LogName>),
}

/// What expiry did to one log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogExpiry {
    /// The log.
    pub log: LogName,
    /// Entries removed (or, in a dry run, that would be).
    pub expired: usize,
    /// Entries kept.
    pub kept: usize,
}

/// What [`crate::Refs::expire_reflogs`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// Each log looked at: HEAD first, then refs in name order.
    pub logs: Vec<LogExpiry>,
    /// The commits the kept entries of those logs name, old and new: the
    /// reflog's roots after expiry, which a dry run of gc marks from.
    pub kept_ids: Vec<ContentId>,
}

impl ExpireReport {
    /// Entries expired over every log.
    pub fn expired(&self) -> usize {
        self.logs.iter().map(|l| l.expired).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let e = ReflogEntry {
            old: None,
            new: Some(ContentId::of(b"x")),
            who: Ident::new("Ada <L>", "ada@x.org"),
            time: 1_700_000_000,
            tz_minutes: -330,
            message: "commit: tab\there".into(),
        };
        assert_eq!(e.who.name, "Ada L");
        let back = ReflogEntry::decode(&e.encode()).unwrap();
        assert_eq!(back, e);
        assert!(String::from_utf8(e.encode()).unwrap().starts_with(NONE_HEX));
        assert_eq!(one_line("a\n\nb\r\n c "), "a b c");
        for bad in [&b""[..], b"x\ty", b"\xff", b"0 0 a <b> 1 +0000\tm"] {
            assert!(ReflogEntry::decode(bad).is_err(), "{bad:?}");
        }
    }
}
