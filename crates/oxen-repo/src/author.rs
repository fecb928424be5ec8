//! Author identity and dates for new commits.

use chrono::{DateTime, FixedOffset, Local, Offset};
use oxen_object::{parse_tz, Signature};
use oxen_store::Config;

use crate::{RepoError, Result};

/// Parse a date as `<unix-seconds> <+hhmm>`, `@<unix-seconds>`, RFC 3339, or
/// `YYYY-MM-DD HH:MM:SS +zzzz`.
pub fn parse_date(s: &str) -> Result<(i64, i32)> {
    let bad = || RepoError::BadDate(s.to_string());
    let t = s.trim();
    let parts: Vec<&str> = t.split_whitespace().collect();
    let secs = |x: &str| x.trim_start_matches('@').parse::<i64>().ok();
    if parts.len() == 1 {
        if let Some(n) = secs(parts[0]) {
            return Ok((n, 0));
        }
    }
    if parts.len() == 2 {
        if let (Some(n), Some(tz)) = (secs(parts[0]), parse_tz(parts[1])) {
            return Ok((n, tz));
        }
    }
    let dt: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S %z"))
        .map_err(|_| bad())?;
    Ok((dt.timestamp(), dt.offset().local_minus_utc() / 60))
}

/// The author for a new commit: `OXEN_AUTHOR_NAME` / `OXEN_AUTHOR_EMAIL` /
/// `OXEN_AUTHOR_DATE` win over config, so scripted commits are reproducible.
pub fn signature(config: &Config) -> Result<Signature> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let name = env("OXEN_AUTHOR_NAME").or_else(|| config.user.name.clone()).ok_or(RepoError::NoAuthor)?;
    let email = env("OXEN_AUTHOR_EMAIL").or_else(|| config.user.email.clone()).ok_or(RepoError::NoAuthor)?;
    let (time, tz_minutes) = match env("OXEN_AUTHOR_DATE") {
        Some(d) => parse_date(&d)?,
        None => {
            let now = Local::now();
            (now.timestamp(), now.offset().fix().local_minus_utc() / 60)
        }
    };
    let sig = Signature { name, email, time, tz_minutes };
    sig.validate()?;
    check_not_empty(&sig)?;
    Ok(sig)
}

/// Refuse an author whose name or email is empty or only spaces (a config
/// file edited by hand, an `OXEN_AUTHOR_*` set to spaces): git refuses
/// "empty ident name" for the same reason. Every new commit, plumbing or
/// porcelain, passes here.
pub(crate) fn check_not_empty(sig: &Signature) -> Result<()> {
    if sig.name.trim().is_empty() {
        return Err(RepoError::EmptyIdent("name", "\"Your Name\"", "NAME"));
    }
    if sig.email.trim().is_empty() {
        return Err(RepoError::EmptyIdent("email", "you@example.com", "EMAIL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1700000000 +0100").unwrap(), (1_700_000_000, 60));
        assert_eq!(parse_date("@5").unwrap(), (5, 0));
        assert_eq!(parse_date("2024-01-01T00:00:00Z").unwrap(), (1_704_067_200, 0));
        assert!(parse_date("yesterday").is_err());
        // Five bytes that are not five characters: refused, not a panic.
        assert!(parse_date("1 \u{e9}+12").is_err());
    }
}
