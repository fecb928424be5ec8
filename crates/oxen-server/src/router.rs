//! Routing: a request's method and path to a typed [`Route`], without any
//! HTTP machinery, so the table is one function that tests can call.

use crate::error::Fail;

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
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
            Route::ListRepos | Route::CreateRepo => None,
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
            Route::ListRepos | Route::RepoInfo(_) | Route::DeleteRepo(_) | Route::GetRefs(_) => BodyUse::None,
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
}

/// The route for `method` and `path` (without the query): 404 for a path
/// outside the API, 405 for a method a path does not take.
pub fn route(method: &str, path: &str) -> Result<Route, Fail> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let r = |s: &str| s.to_string();
    match (method, segs.as_slice()) {
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
    }
}
