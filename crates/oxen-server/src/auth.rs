//! Authentication and authorization, apart from routing and the
//! handlers: who is asking, and whether they may.

use crate::error::Fail;
use crate::router::{Need, Route};
use crate::users::{Access, Caller, Users};
use crate::Result;

/// Whatever tells a bearer token's user: the LMDB user database today, a
/// shared database when several replicas serve one store.
pub trait Authenticator: Send + Sync {
    /// Who a token belongs to (`None`: no such token, or revoked).
    fn authenticate(&self, token: &str) -> Result<Option<Caller>>;
    /// Whether the user database answers (for `GET /api/health`).
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

impl Authenticator for Users {
    fn authenticate(&self, token: &str) -> Result<Option<Caller>> {
        Users::authenticate(self, token)
    }

    fn check(&self) -> Result<()> {
        Users::check(self)
    }
}

/// Whether `caller` may take `route`: 403 with a message naming the
/// repository and the access needed if not. Routes whose check needs the
/// body (creating) or is a filter (listing) pass here and are checked by
/// their handler.
pub fn authorize(route: &Route, caller: &Caller) -> std::result::Result<(), Fail> {
    match route.need() {
        Need::Public | Need::Token => Ok(()),
        Need::Admin if caller.scopes.admin => Ok(()),
        Need::Admin => Err(Fail::new(403, format!("token is not an admin's: {} needs an admin token", route.action()))),
        Need::Repo(need) => {
            let repo = route.repo().unwrap_or_default();
            if caller.scopes.allows(repo, need) {
                return Ok(());
            }
            let have = match caller.scopes.access_to(repo) {
                Some(a) => format!("token has {} access to '{repo}'", a.as_str()),
                None => format!("token has no access to '{repo}'"),
            };
            Err(Fail::new(403, format!("{have}: {} needs {} access", route.action(), need.as_str())))
        }
    }
}

/// Whether `caller` may create a repository called `name`: admins, and
/// tokens with write access to that name.
pub fn authorize_create(caller: &Caller, name: &str) -> std::result::Result<(), Fail> {
    if caller.scopes.allows(name, Access::Write) {
        return Ok(());
    }
    Err(Fail::new(
        403,
        format!("token has no write access to '{name}': creating a repository needs an admin token or write access to its name"),
    ))
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
    use crate::users::{Scopes, User};

    fn caller(read: &[&str], write: &[&str]) -> Caller {
        Caller {
            token_id: "0123456789abcdef".into(),
            user: User { name: "Ada".into(), email: "ada@example.com".into() },
            scopes: Scopes {
                admin: false,
                read: read.iter().map(|s| s.to_string()).collect(),
                write: write.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    #[test]
    fn refusals_name_the_repository_and_the_access_needed() {
        let c = caller(&["a"], &[]);
        assert_eq!(authorize(&Route::UploadPack("a".into()), &c), Ok(()));
        let f = authorize(&Route::ReceivePack("a".into()), &c).unwrap_err();
        assert_eq!((f.status, f.msg.as_str()), (403, "token has read access to 'a': pushing needs write access"));
        let f = authorize(&Route::GetRefs("b".into()), &c).unwrap_err();
        assert_eq!(f.msg, "token has no access to 'b': listing refs needs read access");
        let f = authorize(&Route::DeleteRepo("a".into()), &caller(&[], &["a"])).unwrap_err();
        assert_eq!(f.msg, "token is not an admin's: deleting a repository needs an admin token");
        assert_eq!(authorize(&Route::ReceivePack("a".into()), &caller(&[], &["a"])), Ok(()));
        assert_eq!(authorize_create(&caller(&[], &["n"]), "n"), Ok(()));
        assert_eq!(authorize_create(&caller(&["n"], &[]), "n").unwrap_err().status, 403);
    }

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
