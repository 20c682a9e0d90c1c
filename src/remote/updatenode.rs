//! updatenode's work on a node: the bundle that re-runs its postscripts exactly as oxcatpost does
//! at boot (sent on standard input, nothing fetched back), the synclist files, and the line that
//! installs the cluster key.

use super::scp;
use crate::error::Result;
use crate::store;
use std::path::PathBuf;

/// The shell line that appends the cluster key to the user's authorized_keys once.
pub fn authorize_line(public: &str) -> String {
    let k = scp::quote(public);
    format!(
        "umask 077; mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && \
         {{ grep -qxF {k} ~/.ssh/authorized_keys || echo {k} >> ~/.ssh/authorized_keys; }}"
    )
}

/// The node-side runner, the same file nodes run at boot.
const OXCATPOST: &str = include_str!("../../postscripts/oxcatpost");
/// Where updatenode stages the runner and the scripts on the node (oxcatpost's default dir;
/// site.nodepostdir overrides it).
const STAGE: &str = "/var/lib/oxcat/post";

pub fn stage_dir(conn: &rusqlite::Connection) -> Result<String> {
    Ok(store::site_value(conn, "nodepostdir")?.filter(|d| !d.is_empty()).unwrap_or_else(|| STAGE.to_string()))
}

/// `cat > FILE <<'DELIM'` with a delimiter that is not a line of `body`.
pub fn heredoc(file: &str, body: &str) -> String {
    let mut n = 0u32;
    let delim = loop {
        let d = format!("OXCAT_EOF_{n}");
        if !body.lines().any(|l| l == d) {
            break d;
        }
        n += 1;
    };
    let nl = if body.ends_with('\n') || body.is_empty() { "" } else { "\n" };
    format!("cat > {} <<'{delim}'\n{body}{nl}{delim}\n", scp::quote(file))
}

/// One node's updatenode bundle: the runner, its mypostscript (with UPDATENODE=1 and, for -P,
/// only the scripts named) and every script it lists, then oxcatpost run on them. Sent on
/// standard input; nothing is fetched back from the server.
pub fn bundle(
    mypost: &str,
    only: Option<&[String]>,
    scripts_dir: &std::path::Path,
    stage: &str,
) -> std::result::Result<String, String> {
    let mut env = mypost.to_string();
    env.push_str("UPDATENODE='1'\nexport UPDATENODE\n");
    if let Some(names) = only {
        env.push_str(&format!("POSTSCRIPTS={}\nPOSTBOOTSCRIPTS=''\n", scp::quote(&names.join(","))));
    }
    // The lists as the node will read them.
    let get = |var: &str| -> String {
        env.lines()
            .rev()
            .find_map(|l| l.strip_prefix(&format!("{var}=")))
            .map(|v| v.trim_matches('\'').to_string())
            .unwrap_or_default()
    };
    let mut names: Vec<String> = Vec::new();
    for list in [get("POSTSCRIPTS"), get("POSTBOOTSCRIPTS")] {
        for entry in list.split(',') {
            if let Some(name) = entry.split_whitespace().next() {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        }
    }
    let src = format!("{stage}/src");
    let mut out = format!("set -u\nrm -rf {0} && mkdir -p {0} || exit 2\n", scp::quote(&src));
    out.push_str(&heredoc(&format!("{stage}/oxcatpost"), OXCATPOST));
    out.push_str(&heredoc(&format!("{src}/mypostscript"), &env));
    for name in &names {
        if name.contains('/') || name.starts_with('.') {
            continue; // oxcatpost refuses it by name
        }
        let path = scripts_dir.join(name);
        let body = std::fs::read_to_string(&path).map_err(|e| format!("postscript {name}: {}: {e}", path.display()))?;
        out.push_str(&heredoc(&format!("{src}/{name}"), &body));
    }
    let (src_q, stage_q) = (scp::quote(&src), scp::quote(stage));
    let (my_q, runner_q) = (scp::quote(&format!("{src}/mypostscript")), scp::quote(&format!("{stage}/oxcatpost")));
    out.push_str(&format!(
        "OXCATPOST_SOURCE={src_q} OXCATPOST_DIR={stage_q} OXCATPOST_LOG={stage_q}/oxcatpost.log \
         NODE=\"$(sed -n \"s/^NODE='\\(.*\\)'$/\\1/p\" {my_q})\" OXCAT_SERVER=updatenode OXCAT_TOKEN=none sh {runner_q}\n"
    ));
    Ok(out)
}

/// The last status oxcatpost reported in its output (`oxcatpost: status S`).
pub fn reported_status(out: &[u8]) -> Option<String> {
    String::from_utf8_lossy(out).lines().rev().find_map(|l| l.strip_prefix("oxcatpost: status ")).map(String::from)
}

/// The shell line that creates the directories the synclist entries copy into, as xCAT's -F
/// does: DST itself for several sources or a DST ending in `/`, else DST's parent.
pub fn sync_dirs(entries: &[(Vec<PathBuf>, String)]) -> Option<String> {
    let mut dirs: Vec<String> = entries
        .iter()
        .map(|(srcs, dst)| match dst.rsplit_once('/') {
            _ if srcs.len() > 1 || dst.ends_with('/') => dst.clone(),
            Some((parent, _)) if !parent.is_empty() => parent.to_string(),
            _ => String::new(),
        })
        .filter(|d| !d.is_empty() && d != "/")
        .collect();
    dirs.sort();
    dirs.dedup();
    (!dirs.is_empty())
        .then(|| format!("mkdir -p -- {}", dirs.iter().map(|d| scp::quote(d)).collect::<Vec<_>>().join(" ")))
}

/// synclist lines `SRC... -> DST` (xCAT's synclist format; `#` comments), as (sources, dest).
pub fn synclist(text: &str) -> Vec<(Vec<PathBuf>, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (srcs, dst) = l.split_once("->")?;
            let srcs: Vec<PathBuf> = srcs.split_whitespace().map(PathBuf::from).collect();
            let dst = dst.trim().to_string();
            (!srcs.is_empty() && !dst.is_empty()).then_some((srcs, dst))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synclist_entries_and_the_directories_made_for_them() {
        let list =
            synclist("# comment\n/etc/ntp.conf -> /etc/ntp.conf\n/a /b -> /opt/x\n/c -> /srv/d/\n/e -> f\nbad line\n");
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            list,
            [
                (vec![p("/etc/ntp.conf")], "/etc/ntp.conf".to_string()),
                (vec![p("/a"), p("/b")], "/opt/x".to_string()),
                (vec![p("/c")], "/srv/d/".to_string()),
                (vec![p("/e")], "f".to_string()),
            ]
        );
        assert_eq!(sync_dirs(&list).unwrap(), "mkdir -p -- '/etc' '/opt/x' '/srv/d/'");
        assert_eq!(sync_dirs(&synclist("/a -> /a\n")), None);
    }
}
