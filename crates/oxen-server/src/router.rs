//! Routing: a request's method and path to a typed [`Route`], without any
//! HTTP machinery, so the table is one function that tests can call.

use crate::error::Fail;
use crate::users::Access;

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /api/health`: whether the stores answer (no token needed).
    Health,
    /// `GET /api/version`: the server's version and store format (no token needed).
    Version,
    /// `GET /api/repos`
    ListRepos,
    /// `POST /api/repos {"name": ...}`
    CreateRepo,
    /// `GET /api/repos/X`
    RepoInfo(String),
    /// `DELETE /api/repos/X`
    DeleteRepo(String),
    /// `GET /api/repos/X/refs`
    GetRefs(String),
    /// `POST /api/repos/X/missing`
    Missing(String),
    /// `POST /api/repos/X/receive-pack`
    ReceivePack(String),
    /// `POST /api/repos/X/refs`
    UpdateRefs(String),
    /// `POST /api/repos/X/upload-pack`
    UploadPack(String),
    /// `POST /api/repos/X/chunks/missing`: which of these chunks the server lacks.
    ChunksMissing(String),
    /// `POST /api/repos/X/chunks/lists`: the chunk lists of these files.
    ChunkLists(String),
    /// `POST /api/repos/X/enumerate`: the objects an upload-pack would send.
    Enumerate(String),
    /// `POST /api/repos/X/upload-items`: a pack of exactly these frames.
    UploadItems(String),
}

/// What a route needs of the request's token. Every route has one (the
/// match in [`Route::need`] is exhaustive): none can be left unchecked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: no token (health and version, for proxies and orchestrators).
    Public,
    /// Any valid token; the handler decides (listing shows only the
    /// repositories the token can read; creating needs admin or write
    /// access to the name, which is in the body).
    Token,
    /// This access to the repository in the path.
    Repo(Access),
    /// An admin token.
    Admin,
}

/// Every endpoint as (method, path template), the table [`route`]
/// matches; tests walk it (a route missing here fails them).
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/api/health"),
    ("GET", "/api/version"),
    ("GET", "/api/repos"),
    ("POST", "/api/repos"),
    ("GET", "/api/repos/{repo}"),
    ("DELETE", "/api/repos/{repo}"),
    ("GET", "/api/repos/{repo}/refs"),
    ("POST", "/api/repos/{repo}/missing"),
    ("POST", "/api/repos/{repo}/receive-pack"),
    ("POST", "/api/repos/{repo}/refs"),
    ("POST", "/api/repos/{repo}/upload-pack"),
    ("POST", "/api/repos/{repo}/chunks/missing"),
    ("POST", "/api/repos/{repo}/chunks/lists"),
    ("POST", "/api/repos/{repo}/enumerate"),
    ("POST", "/api/repos/{repo}/upload-items"),
];

/// How a route reads its request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyUse {
    /// Not at all (a body sent anyway is ignored).
    None,
    /// A small JSON document.
    Json,
    /// A pack stream of any size, read as it arrives.
    Stream,
}

impl Route {
    /// The route's path pattern, for logs (`/api/repos/{repo}/refs`).
    pub fn template(&self) -> &'static str {
        match self {
            Route::Health => "/api/health",
            Route::Version => "/api/version",
            Route::ListRepos | Route::CreateRepo => "/api/repos",
            Route::RepoInfo(_) | Route::DeleteRepo(_) => "/api/repos/{repo}",
            Route::GetRefs(_) | Route::UpdateRefs(_) => "/api/repos/{repo}/refs",
            Route::Missing(_) => "/api/repos/{repo}/missing",
            Route::ReceivePack(_) => "/api/repos/{repo}/receive-pack",
            Route::UploadPack(_) => "/api/repos/{repo}/upload-pack",
            Route::ChunksMissing(_) => "/api/repos/{repo}/chunks/missing",
            Route::ChunkLists(_) => "/api/repos/{repo}/chunks/lists",
            Route::Enumerate(_) => "/api/repos/{repo}/enumerate",
            Route::UploadItems(_) => "/api/repos/{repo}/upload-items",
        }
    }

    /// The repository named in the path, if any.
    pub fn repo(&self) -> Option<&str> {
        match self {
            Route::Health | Route::Version | Route::ListRepos | Route::CreateRepo => None,
            Route::RepoInfo(r)
            | Route::DeleteRepo(r)
            | Route::GetRefs(r)
            | Route::Missing(r)
            | Route::ReceivePack(r)
            | Route::UpdateRefs(r)
            | Route::UploadPack(r)
            | Route::ChunksMissing(r)
            | Route::ChunkLists(r)
            | Route::Enumerate(r)
            | Route::UploadItems(r) => Some(r),
        }
    }

    /// How the handler reads the body.
    pub fn body_use(&self) -> BodyUse {
        match self {
            Route::Health
            | Route::Version
            | Route::ListRepos
            | Route::RepoInfo(_)
            | Route::DeleteRepo(_)
            | Route::GetRefs(_) => BodyUse::None,
            Route::CreateRepo
            | Route::Missing(_)
            | Route::UpdateRefs(_)
            | Route::UploadPack(_)
            | Route::ChunksMissing(_)
            | Route::ChunkLists(_)
            | Route::Enumerate(_)
            | Route::UploadItems(_) => BodyUse::Json,
            Route::ReceivePack(_) => BodyUse::Stream,
        }
    }

    /// What the route needs of the token. `missing` and `chunks/missing`
    /// are asked only by a push (which of these does the server lack?),
    /// so they need write access: a read-only token's push is refused
    /// before it uploads anything. `upload-pack` and `upload-items` are
    /// the server uploading to a fetching client: read.
    pub fn need(&self) -> Need {
        match self {
            Route::Health | Route::Version => Need::Public,
            Route::ListRepos | Route::CreateRepo => Need::Token,
            Route::DeleteRepo(_) => Need::Admin,
            Route::RepoInfo(_)
            | Route::GetRefs(_)
            | Route::UploadPack(_)
            | Route::Enumerate(_)
            | Route::ChunkLists(_)
            | Route::UploadItems(_) => Need::Repo(Access::Read),
            Route::Missing(_) | Route::ReceivePack(_) | Route::UpdateRefs(_) | Route::ChunksMissing(_) => {
                Need::Repo(Access::Write)
            }
        }
    }

    /// What the request is doing, for a refusal's message ("pushing needs
    /// write access").
    pub fn action(&self) -> &'static str {
        match self {
            Route::Health | Route::Version => "checking the server",
            Route::ListRepos => "listing repositories",
            Route::CreateRepo => "creating a repository",
            Route::DeleteRepo(_) => "deleting a repository",
            Route::RepoInfo(_) => "reading a repository",
            Route::GetRefs(_) => "listing refs",
            Route::UploadPack(_) | Route::Enumerate(_) | Route::ChunkLists(_) | Route::UploadItems(_) => "fetching",
            Route::Missing(_) | Route::ReceivePack(_) | Route::UpdateRefs(_) | Route::ChunksMissing(_) => "pushing",
        }
    }
}

/// The route for `method` and `path` (without the query): 404 for a path
/// outside the API, 405 for a method a path does not take.
pub fn route(method: &str, path: &str) -> Result<Route, Fail> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let r = |s: &str| s.to_string();
    match (method, segs.as_slice()) {
        ("GET", ["api", "health"]) => Ok(Route::Health),
        ("GET", ["api", "version"]) => Ok(Route::Version),
        (_, ["api", "health" | "version"]) => Err(Fail::new(405, format!("{method} not supported here"))),
        ("GET", ["api", "repos"]) => Ok(Route::ListRepos),
        ("POST", ["api", "repos"]) => Ok(Route::CreateRepo),
        ("GET", ["api", "repos", name]) => Ok(Route::RepoInfo(r(name))),
        ("DELETE", ["api", "repos", name]) => Ok(Route::DeleteRepo(r(name))),
        ("GET", ["api", "repos", name, "refs"]) => Ok(Route::GetRefs(r(name))),
        ("POST", ["api", "repos", name, "missing"]) => Ok(Route::Missing(r(name))),
        ("POST", ["api", "repos", name, "receive-pack"]) => Ok(Route::ReceivePack(r(name))),
        ("POST", ["api", "repos", name, "refs"]) => Ok(Route::UpdateRefs(r(name))),
        ("POST", ["api", "repos", name, "upload-pack"]) => Ok(Route::UploadPack(r(name))),
        ("POST", ["api", "repos", name, "chunks", "missing"]) => Ok(Route::ChunksMissing(r(name))),
        ("POST", ["api", "repos", name, "chunks", "lists"]) => Ok(Route::ChunkLists(r(name))),
        ("POST", ["api", "repos", name, "enumerate"]) => Ok(Route::Enumerate(r(name))),
        ("POST", ["api", "repos", name, "upload-items"]) => Ok(Route::UploadItems(r(name))),
        (_, ["api", "repos", ..]) => Err(Fail::new(405, format!("{method} not supported here"))),
        _ => Err(Fail::new(404, "no such endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_table() {
        assert_eq!(route("GET", "/api/repos").unwrap(), Route::ListRepos);
        assert_eq!(route("POST", "/api/repos/").unwrap(), Route::CreateRepo);
        assert_eq!(route("GET", "/api/repos/R").unwrap(), Route::RepoInfo("R".into()));
        assert_eq!(route("POST", "/api/repos/R/refs").unwrap(), Route::UpdateRefs("R".into()));
        assert_eq!(route("GET", "/api/repos/R/refs").unwrap(), Route::GetRefs("R".into()));
        assert_eq!(route("POST", "/api/repos/R/receive-pack").unwrap().body_use(), BodyUse::Stream);
        assert_eq!(route("PUT", "/api/repos/R/refs").unwrap_err().status, 405);
        assert_eq!(route("POST", "/api/repos/R/chunks/missing").unwrap(), Route::ChunksMissing("R".into()));
        assert_eq!(route("POST", "/api/repos/R/chunks/lists").unwrap(), Route::ChunkLists("R".into()));
        assert_eq!(route("POST", "/api/repos/R/enumerate").unwrap().body_use(), BodyUse::Json);
        assert_eq!(route("POST", "/api/repos/R/upload-items").unwrap().template(), "/api/repos/{repo}/upload-items");
        assert_eq!(route("GET", "/api/repos/R/chunks/missing").unwrap_err().status, 405);
        assert_eq!(route("GET", "/nope").unwrap_err().status, 404);
        assert_eq!(route("GET", "/api/repos/R/refs").unwrap().template(), "/api/repos/{repo}/refs");
        assert_eq!(route("GET", "/api/health").unwrap(), Route::Health);
        assert_eq!(route("GET", "/api/version").unwrap(), Route::Version);
        assert_eq!(route("POST", "/api/health").unwrap_err().status, 405);
    }

    /// Each variant's place in [`ENDPOINTS`]; exhaustive, so a new route
    /// does not compile until it is listed.
    fn listed(r: &Route) -> usize {
        match r {
            Route::Health => 0,
            Route::Version => 1,
            Route::ListRepos => 2,
            Route::CreateRepo => 3,
            Route::RepoInfo(_) => 4,
            Route::DeleteRepo(_) => 5,
            Route::GetRefs(_) => 6,
            Route::Missing(_) => 7,
            Route::ReceivePack(_) => 8,
            Route::UpdateRefs(_) => 9,
            Route::UploadPack(_) => 10,
            Route::ChunksMissing(_) => 11,
            Route::ChunkLists(_) => 12,
            Route::Enumerate(_) => 13,
            Route::UploadItems(_) => 14,
        }
    }

    #[test]
    fn every_route_is_in_the_table_with_its_need() {
        let mut seen = vec![false; ENDPOINTS.len()];
        for (i, (method, template)) in ENDPOINTS.iter().enumerate() {
            let r = route(method, &template.replace("{repo}", "R")).unwrap();
            assert_eq!(r.template(), *template);
            assert_eq!(listed(&r), i, "{method} {template}");
            seen[i] = true;
            // Only health and version go without a token; every route that
            // names a repository checks the token's access to it (or admin).
            match r.need() {
                Need::Public => assert!(matches!(r, Route::Health | Route::Version)),
                Need::Token => assert!(matches!(r, Route::ListRepos | Route::CreateRepo)),
                Need::Repo(_) | Need::Admin => assert_eq!(r.repo(), Some("R")),
            }
        }
        assert!(seen.iter().all(|s| *s));
        let writes: Vec<&str> = ENDPOINTS
            .iter()
            .filter_map(|(m, t)| {
                let r = route(m, &t.replace("{repo}", "R")).ok()?;
                (r.need() == Need::Repo(Access::Write)).then_some(*t)
            })
            .collect();
        assert_eq!(
            writes,
            [
                "/api/repos/{repo}/missing",
                "/api/repos/{repo}/receive-pack",
                "/api/repos/{repo}/refs",
                "/api/repos/{repo}/chunks/missing"
            ]
        );
    }
}
