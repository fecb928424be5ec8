//! The plumbing commands: small, scriptable, stdin/stdout friendly.

pub mod cat_file;
pub mod commit_tree;
pub mod fsck;
pub mod hash_object;
pub mod ls_files;
pub mod ls_tree;
pub mod rev_parse;
pub mod update_index;
pub mod update_ref;
pub mod write_tree;
// Sync.
pub mod fetch_pack;
pub mod receive_pack;
pub mod send_pack;
pub mod server;
pub mod upload_pack;

use clap::CommandFactory;

/// Definitions of every plumbing binary.
pub fn commands() -> Vec<clap::Command> {
    vec![
        cat_file::Args::command(),
        commit_tree::Args::command(),
        fsck::Args::command(),
        hash_object::Args::command(),
        ls_files::Args::command(),
        ls_tree::Args::command(),
        rev_parse::Args::command(),
        update_index::Args::command(),
        update_ref::Args::command(),
        write_tree::Args::command(),
        fetch_pack::Args::command(),
        receive_pack::Args::command(),
        send_pack::Args::command(),
        server::Args::command(),
        upload_pack::Args::command(),
    ]
}

/// Open the repository containing the current directory.
pub(crate) fn repo() -> crate::CommandResult<oxen_repo::Repo> {
    let repo = oxen_repo::Repo::discover(&crate::cwd()?)?;
    oxen_remote::install_promisor(&repo)?;
    Ok(repo)
}
