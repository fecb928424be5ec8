//! `oxen config`

use oxen_store::Config;
use std::io::Write;

use crate::{user_error, CommandResult};

/// Get or set a config value: user.name, user.email, core.bare (true:
/// a repository only pushed to, see `oxen init --bare`), fetch.prune
/// (true: fetch and pull act as with --prune), remote.<name>.tagOpt
/// (--no-tags: fetch and pull take no tags from it; --tags: every tag),
/// gc.reflogExpire and gc.reflogExpireUnreachable (how long `oxen gc`
/// keeps reflog entries: `now`, `never` or a duration such as `30d`), or
/// tabular-keys.<path> (comma-separated key columns used by diff and merge).
/// Without --global, the repository's .oxen/config.toml is used.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Use the global ~/.oxen/config.toml.
    #[arg(long)]
    pub global: bool,
    /// Remove the key.
    #[arg(long)]
    pub unset: bool,
    /// The key, e.g. user.name.
    pub key: String,
    /// The new value; omit to print the current one.
    #[arg(allow_hyphen_values = true)]
    pub value: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let path = if a.global {
        oxen_store::global_config_dir()
            .ok_or_else(|| user_error("cannot find the home directory for --global"))?
            .join("config.toml")
    } else {
        super::open()?.layout.config_file()
    };
    let mut cfg = Config::load(&path)?;
    if let Some(p) = a.key.strip_prefix("tabular-keys.") {
        if a.unset {
            cfg.tabular_keys.remove(p);
        } else if let Some(v) = a.value {
            cfg.tabular_keys
                .insert(p.to_string(), v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
        } else {
            let v = cfg.tabular_keys.get(p).ok_or_else(|| user_error(format!("{} is not set", a.key)))?;
            writeln!(out, "{}", v.join(","))?;
            return Ok(());
        }
        cfg.save(&path)?;
        return Ok(());
    }
    if a.key == "core.bare" {
        if a.unset {
            cfg.core.bare = false;
        } else if let Some(v) = a.value {
            cfg.core.bare = match v.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(user_error(format!("core.bare is true or false, not '{v}'"))),
            };
        } else {
            writeln!(out, "{}", cfg.core.bare)?;
            return Ok(());
        }
        cfg.save(&path)?;
        return Ok(());
    }
    if a.key == "fetch.prune" {
        if a.unset {
            cfg.fetch.prune = None;
        } else if let Some(v) = a.value {
            cfg.fetch.prune = Some(match v.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(user_error(format!("fetch.prune is true or false, not '{v}'"))),
            });
        } else {
            let v = cfg.fetch.prune.ok_or_else(|| user_error("fetch.prune is not set"))?;
            writeln!(out, "{v}")?;
            return Ok(());
        }
        cfg.save(&path)?;
        return Ok(());
    }
    if let Some(name) = a.key.strip_prefix("remote.").and_then(|k| k.strip_suffix(".tagOpt")) {
        let remote = cfg.remote.get_mut(name).ok_or_else(|| user_error(format!("no remote named '{name}'")))?;
        if a.unset {
            remote.tag_opt = None;
        } else if let Some(v) = a.value {
            if v != "--no-tags" && v != "--tags" {
                return Err(user_error(format!("{} is --no-tags or --tags, not '{v}'", a.key)));
            }
            remote.tag_opt = Some(v);
        } else {
            let v = remote.tag_opt.clone().ok_or_else(|| user_error(format!("{} is not set", a.key)))?;
            writeln!(out, "{v}")?;
            return Ok(());
        }
        cfg.save(&path)?;
        return Ok(());
    }
    if let Some(slot) = match a.key.as_str() {
        "gc.reflogExpire" => Some(&mut cfg.gc.reflog_expire),
        "gc.reflogExpireUnreachable" => Some(&mut cfg.gc.reflog_expire_unreachable),
        _ => None,
    } {
        if a.unset {
            *slot = None;
        } else if let Some(v) = a.value {
            super::gc::parse_prune(&v).map_err(|why| user_error(format!("{}: {why}", a.key)))?;
            *slot = Some(v);
        } else {
            let v = slot.clone().ok_or_else(|| user_error(format!("{} is not set", a.key)))?;
            writeln!(out, "{v}")?;
            return Ok(());
        }
        cfg.save(&path)?;
        return Ok(());
    }
    let slot = match a.key.as_str() {
        "user.name" => &mut cfg.user.name,
        "user.email" => &mut cfg.user.email,
        k => {
            return Err(user_error(format!(
                "unknown config key '{k}' (known: user.name, user.email, core.bare, fetch.prune, gc.reflogExpire, \
                 gc.reflogExpireUnreachable, remote.<name>.tagOpt, tabular-keys.<path>)"
            )))
        }
    };
    if a.unset {
        *slot = None;
    } else if let Some(v) = a.value {
        if v.contains('\n') || v.contains('<') || v.contains('>') {
            return Err(user_error("value may not contain newline, '<' or '>'"));
        }
        // An empty identity names nobody (`author  <>`); git refuses it too.
        if v.trim().is_empty() {
            return Err(user_error(format!(
                "{} may not be empty: give a value (`oxen config {} <value>`), or remove it with --unset",
                a.key, a.key
            )));
        }
        *slot = Some(v);
    } else {
        let v = slot.clone().ok_or_else(|| user_error(format!("{} is not set", a.key)))?;
        writeln!(out, "{v}")?;
        return Ok(());
    }
    cfg.save(&path)?;
    Ok(())
}
