//! Commits and their canonical (text) encoding, close to git's so that
//! `oxen-cat-file -p` is readable:
//!
//! ```text
//! tree <id>
//! parent <id>            (zero or more)
//! author <name> <<email>> <unix seconds> <+hhmm>
//!
//! <message>
//! ```

use oxen_hash::ContentId;

use crate::{malformed, ObjectError};

/// The most parents a commit may have. git sets no limit, but nothing
/// real comes close (the largest octopus merge in Linux has 66 parents),
/// and every parent costs a walk step in every history question: a commit
/// naming 100,000 parents is an attack, not a merge.
pub const MAX_PARENTS: usize = 128;

/// Who made a commit and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Author name.
    pub name: String,
    /// Author email.
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// Offset from UTC in minutes.
    pub tz_minutes: i32,
}

impl Signature {
    /// Check that the signature can be encoded unambiguously.
    pub fn validate(&self) -> Result<(), ObjectError> {
        for (what, v) in [("author name", &self.name), ("author email", &self.email)] {
            if v.contains('\n') || v.contains('<') || v.contains('>') {
                return Err(malformed("commit", format!("{what} may not contain newline, '<' or '>'")));
            }
        }
        Ok(())
    }

    /// `+hhmm` / `-hhmm`
    pub fn tz_string(&self) -> String {
        format_tz(self.tz_minutes)
    }

    fn encode(&self) -> String {
        format!("{} <{}> {} {}", self.name, self.email, self.time, self.tz_string())
    }

    fn decode(s: &str) -> Result<Signature, ObjectError> {
        let bad = || malformed("commit", "bad author line");
        let lt = s.find('<').ok_or_else(bad)?;
        let gt = s.rfind('>').ok_or_else(bad)?;
        if gt < lt || lt == 0 {
            return Err(bad());
        }
        // `get`: the byte before '<' may be inside a multi-byte character.
        let name = s.get(..lt - 1).ok_or_else(bad)?.to_string();
        let email = s[lt + 1..gt].to_string();
        let rest: Vec<&str> = s[gt + 1..].split_whitespace().collect();
        if rest.len() != 2 {
            return Err(bad());
        }
        let time: i64 = rest[0].parse().map_err(|_| bad())?;
        let tz_minutes = parse_tz(rest[1]).ok_or_else(bad)?;
        Ok(Signature { name, email, time, tz_minutes })
    }
}

/// A UTC offset in minutes as git writes it in commits and reflogs: `+hhmm` / `-hhmm`.
pub fn format_tz(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

/// The offset in minutes of a `+hhmm` / `-hhmm` written by [`format_tz`].
pub fn parse_tz(s: &str) -> Option<i32> {
    // ASCII only: the offset is sliced by byte below.
    if s.len() != 5 || !s.is_ascii() {
        return None;
    }
    let sign = match &s[..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let h: i32 = s[1..3].parse().ok()?;
    let m: i32 = s[3..5].parse().ok()?;
    Some(sign * (h * 60 + m))
}

/// A commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Root tree.
    pub tree: ContentId,
    /// Parent commits (two or more for a merge).
    pub parents: Vec<ContentId>,
    /// Author and time.
    pub author: Signature,
    /// Message, stored as given (porcelain normalises a trailing newline).
    pub message: String,
}

impl Commit {
    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!("tree {}\n", self.tree);
        for p in &self.parents {
            s.push_str(&format!("parent {p}\n"));
        }
        s.push_str(&format!("author {}\n\n", self.author.encode()));
        s.push_str(&self.message);
        s.into_bytes()
    }

    /// The id of this commit.
    pub fn id(&self) -> ContentId {
        ContentId::of(&self.encode())
    }

    /// Check the parent list: no parent twice (a merge of a commit with
    /// itself means nothing and doubles every walk through it), and at most
    /// [`MAX_PARENTS`]. Decoding applies it to every commit received or
    /// read; writers call it before storing.
    pub fn validate_parents(&self) -> Result<(), ObjectError> {
        if self.parents.len() > MAX_PARENTS {
            return Err(malformed(
                "commit",
                format!("{} parents, over the limit of {MAX_PARENTS}", self.parents.len()),
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.parents.len());
        for p in &self.parents {
            if !seen.insert(p) {
                return Err(malformed("commit", format!("duplicate parent {p}")));
            }
        }
        Ok(())
    }

    /// Parse canonical bytes.
    pub fn decode(bytes: &[u8]) -> Result<Commit, ObjectError> {
        let text = std::str::from_utf8(bytes).map_err(|_| malformed("commit", "not UTF-8"))?;
        let (head, message) =
            text.split_once("\n\n").ok_or_else(|| malformed("commit", "no blank line before message"))?;
        let mut tree = None;
        let mut parents = Vec::new();
        let mut author = None;
        for line in head.lines() {
            let (k, v) =
                line.split_once(' ').ok_or_else(|| malformed("commit", format!("bad header line '{line}'")))?;
            match k {
                "tree" if tree.is_none() && parents.is_empty() => {
                    tree = Some(ContentId::from_hex(v).map_err(|e| malformed("commit", e.to_string()))?)
                }
                "parent" if tree.is_some() && author.is_none() => {
                    // Checked as they come, so 100,000 parent lines cost
                    // no more than MAX_PARENTS + 1 of them.
                    if parents.len() >= MAX_PARENTS {
                        return Err(malformed("commit", format!("more than {MAX_PARENTS} parents")));
                    }
                    parents.push(ContentId::from_hex(v).map_err(|e| malformed("commit", e.to_string()))?)
                }
                "author" if tree.is_some() && author.is_none() => author = Some(Signature::decode(v)?),
                _ => return Err(malformed("commit", format!("unexpected header '{k}'"))),
            }
        }
        let c = Commit {
            tree: tree.ok_or_else(|| malformed("commit", "no tree"))?,
            parents,
            author: author.ok_or_else(|| malformed("commit", "no author"))?,
            message: message.to_string(),
        };
        c.validate_parents()?;
        if c.encode() != bytes {
            return Err(malformed("commit", "not in canonical form"));
        }
        Ok(c)
    }

    /// First line of the message.
    pub fn summary(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_round_trip() {
        for m in [-720, -330, -1, 0, 59, 345, 840] {
            assert_eq!(parse_tz(&format_tz(m)), Some(m), "{m}");
        }
        assert_eq!(format_tz(-330), "-0530");
        for bad in ["0100", "+01000", "*0100", "+0a00", "\u{e9}+12"] {
            assert_eq!(parse_tz(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trip() {
        let c = Commit {
            tree: ContentId::of(b"t"),
            parents: vec![ContentId::of(b"p1"), ContentId::of(b"p2")],
            author: Signature {
                name: "Ada L".into(),
                email: "ada@x.org".into(),
                time: 1_700_000_000,
                tz_minutes: -330,
            },
            message: "hello\n\nbody\n".into(),
        };
        let d = Commit::decode(&c.encode()).unwrap();
        assert_eq!(c, d);
        assert_eq!(c.author.tz_string(), "-0530");
    }

    fn with_parents(parents: Vec<ContentId>) -> Commit {
        Commit {
            tree: ContentId::of(b"t"),
            parents,
            author: Signature { name: "A".into(), email: "a@x".into(), time: 1, tz_minutes: 0 },
            message: "m\n".into(),
        }
    }

    #[test]
    fn duplicate_parents_are_refused() {
        let p = ContentId::of(b"p");
        let c = with_parents(vec![p, ContentId::of(b"q"), p]);
        assert!(c.validate_parents().is_err());
        let e = Commit::decode(&c.encode()).unwrap_err();
        assert!(e.to_string().contains("duplicate parent"), "{e}");
        // 100,000 copies of one parent: refused, and early.
        let many = with_parents(vec![p; 100_000]);
        assert!(Commit::decode(&many.encode()).is_err());
    }

    #[test]
    fn parents_are_capped() {
        let ps: Vec<ContentId> = (0..=MAX_PARENTS as u32).map(|i| ContentId::of(&i.to_le_bytes())).collect();
        let over = with_parents(ps.clone());
        let e = Commit::decode(&over.encode()).unwrap_err();
        assert!(e.to_string().contains("parents"), "{e}");
        let at = with_parents(ps[..MAX_PARENTS].to_vec());
        assert_eq!(Commit::decode(&at.encode()).unwrap(), at);
    }
}
