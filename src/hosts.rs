//! makehosts: the nodes' addresses in /etc/hosts, inside a block oxcat manages. Lines outside the
//! block are never touched; the file is rewritten through a temporary file and a rename.

use std::collections::BTreeMap;

pub const BEGIN: &str = "# BEGIN oxcat makehosts: this block is rewritten by makehosts, edit the hosts table instead";
pub const END: &str = "# END oxcat makehosts";

/// What to do with the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Add or replace the given nodes' lines, keep the others.
    Update,
    /// The block holds exactly the given nodes.
    Replace,
    /// Remove the given nodes' lines.
    Delete,
}

/// One node's line: `IP short short.domain aliases...` (with `long_first`, the FQDN first).
pub fn line(node: &str, ip: &str, domain: Option<&str>, aliases: &[String], long_first: bool) -> String {
    let mut names: Vec<String> = Vec::new();
    match domain {
        Some(d) if long_first => names.extend([format!("{node}.{d}"), node.to_string()]),
        Some(d) => names.extend([node.to_string(), format!("{node}.{d}")]),
        None => names.push(node.to_string()),
    }
    names.extend(aliases.iter().filter(|a| !names.contains(a)).cloned().collect::<Vec<_>>());
    format!("{ip} {}", names.join(" "))
}

/// The node a block line belongs to: its first name without the domain.
fn owner(line: &str, domain: Option<&str>) -> Option<String> {
    let mut words = line.split_whitespace().skip(1);
    let first = words.next()?;
    let short = domain.and_then(|d| first.strip_suffix(&format!(".{d}"))).unwrap_or(first);
    Some(short.to_string())
}

/// The new file text: `lines` maps node -> its line (for Delete, the nodes to remove).
pub fn rewrite(old: &str, lines: &BTreeMap<String, String>, mode: Mode, domain: Option<&str>) -> String {
    let (mut before, mut block, mut after) = (Vec::new(), Vec::new(), Vec::new());
    let mut section = 0;
    for l in old.lines() {
        match (section, l) {
            (0, BEGIN) => section = 1,
            (1, END) => section = 2,
            (0, _) => before.push(l),
            (1, _) => block.push(l.to_string()),
            _ => after.push(l),
        }
    }
    // An unterminated block (section still 1) simply ends the file: everything after BEGIN was ours.
    let mut entries: Vec<(String, String)> = match mode {
        Mode::Replace => Vec::new(),
        _ => block
            .iter()
            .filter_map(|l| owner(l, domain).map(|o| (o, l.clone())))
            .filter(|(o, _)| !lines.contains_key(o))
            .collect(),
    };
    if mode != Mode::Delete {
        entries.extend(lines.iter().map(|(n, l)| (n.clone(), l.clone())));
    }
    entries.sort_by(|a, b| crate::noderange::natural_cmp(&a.0, &b.0));
    let mut out: Vec<String> = before.iter().map(|s| s.to_string()).collect();
    if !entries.is_empty() {
        out.push(BEGIN.to_string());
        out.extend(entries.into_iter().map(|(_, l)| l));
        out.push(END.to_string());
    }
    out.extend(after.iter().map(|s| s.to_string()));
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Writes `text` to `path` atomically, keeping the file's permissions.
pub fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp =
        path.with_file_name(format!(".{}.oxcat-tmp", path.file_name().and_then(|f| f.to_str()).unwrap_or("hosts")));
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: &[(&str, &str)]) -> BTreeMap<String, String> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn lines_short_or_long_first() {
        assert_eq!(line("n1", "10.0.0.1", Some("c.org"), &["gpu1".into()], false), "10.0.0.1 n1 n1.c.org gpu1");
        assert_eq!(line("n1", "10.0.0.1", Some("c.org"), &[], true), "10.0.0.1 n1.c.org n1");
        assert_eq!(line("n1", "10.0.0.1", None, &[], false), "10.0.0.1 n1");
    }

    #[test]
    fn the_block_is_updated_replaced_and_pruned_others_kept() {
        let old = "127.0.0.1 localhost\n# mine\n";
        let t = rewrite(old, &map(&[("n10", "10.0.0.10 n10"), ("n2", "10.0.0.2 n2")]), Mode::Update, None);
        assert_eq!(t, format!("127.0.0.1 localhost\n# mine\n{BEGIN}\n10.0.0.2 n2\n10.0.0.10 n10\n{END}\n"));
        let t = rewrite(&(t + "192.168.1.1 printer\n"), &map(&[("n2", "10.0.0.22 n2")]), Mode::Update, None);
        assert!(
            t.contains("10.0.0.22 n2\n10.0.0.10 n10\n") && t.ends_with(&format!("{END}\n192.168.1.1 printer\n")),
            "{t}"
        );
        let r = rewrite(&t, &map(&[("n3", "10.0.0.3 n3")]), Mode::Replace, None);
        assert!(r.contains(&format!("{BEGIN}\n10.0.0.3 n3\n{END}")) && !r.contains("n10"), "{r}");
        let d = rewrite(&t, &map(&[("n2", "")]), Mode::Delete, None);
        assert!(!d.contains(" n2") && d.contains("n10"), "{d}");
        let empty = rewrite(&d, &map(&[("n10", "")]), Mode::Delete, None);
        assert_eq!(empty, "127.0.0.1 localhost\n# mine\n192.168.1.1 printer\n");
    }
}
