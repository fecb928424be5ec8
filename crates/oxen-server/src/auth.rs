//! Authentication, apart from routing and the handlers: who is asking.

use crate::users::{User, Users};
use crate::Result;

/// Whatever tells a bearer token's user: the LMDB user database today, a
/// shared database when several replicas serve one store.
pub trait Authenticator: Send + Sync {
    /// The user a token belongs to (`None`: no such token).
    fn authenticate(&self, token: &str) -> Result<Option<User>>;
}

impl Authenticator for Users {
    fn authenticate(&self, token: &str) -> Result<Option<User>> {
        Users::authenticate(self, token)
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&[u8]>) -> Option<&str> {
    let v = std::str::from_utf8(header?).ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(Some(b"Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some(b"bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some(b"Basic abc")), None);
        assert_eq!(bearer(Some(b"Bearer ")), None);
        assert_eq!(bearer(Some(b"Bearer")), None);
        assert_eq!(bearer(Some(&[0xff, 0xfe])), None);
        assert_eq!(bearer(None), None);
    }
}
