//! Host keys without trust-on-first-use: each node reports its SSH host public keys at boot
//! (oxcatpost, authenticated by its boot token), they are kept per node in the `hostkeys` table,
//! and every session checks the key the node presents against them. `makeknownhosts` writes them
//! as a known_hosts file for OpenSSH users.

use crate::error::Result;
use crate::store::{self, schema};
use rusqlite::Connection;
use std::collections::HashMap;

/// Key types a node may report.
const TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// The most keys one report may carry.
const MAX_KEYS: usize = 8;

/// The keys in a report (one `TYPE BASE64 [COMMENT]` per line, as in the `.pub` files), each
/// as `TYPE BASE64`; or why the report is refused.
pub fn parse_report(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut keys: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let (Some(kind), Some(b64)) = (words.next(), words.next()) else {
            return Err("each line is 'TYPE BASE64 [COMMENT]'".into());
        };
        if !TYPES.contains(&kind) {
            return Err(format!("key type '{kind}' is not one of: {}", TYPES.join(", ")));
        }
        let b64_ok = b64.len() >= 16
            && b64.len() <= 4096
            && b64.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if !b64_ok {
            return Err(format!("the {kind} key is not base64"));
        }
        let key = format!("{kind} {b64}");
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err("no host key in the report".into());
    }
    if keys.len() > MAX_KEYS {
        return Err(format!("at most {MAX_KEYS} host keys"));
    }
    Ok(keys)
}

/// Records `keys` as the node's host keys (replacing what was there), inside the caller's
/// transaction. `how` is `boot` or `accepted`.
pub fn record(conn: &Connection, node: &str, keys: &[String], how: &str) -> Result<()> {
    let t = schema::table("hostkeys").expect("hostkeys");
    let now: String = conn.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0))?;
    let reported = format!("{now} {how}");
    store::upsert(conn, t, &[node], &[("keys", Some(&keys.join(","))), ("reported", Some(&reported))])
}

/// Forgets the node's host keys (`makeknownhosts NODE -r`); true when it had some.
pub fn forget(conn: &Connection, node: &str) -> Result<bool> {
    store::delete_row(conn, schema::table("hostkeys").expect("hostkeys"), &[node])
}

/// The recorded keys of `nodes` (nodes without any are absent).
pub fn of_nodes(conn: &Connection, nodes: &[String]) -> Result<HashMap<String, Vec<String>>> {
    let t = schema::table("hostkeys").expect("hostkeys");
    let (col, _) = t.column("keys").expect("keys");
    let mut out = HashMap::new();
    for row in store::rows_by_key(conn, t, nodes)? {
        if store::is_disabled(t, &row) {
            continue;
        }
        let (Some(node), Some(keys)) = (row[0].clone(), row[col].clone()) else { continue };
        let keys: Vec<String> = keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from).collect();
        if !keys.is_empty() {
            out.insert(node, keys);
        }
    }
    Ok(out)
}

/// known_hosts lines for `nodes`: `NODE[,IP] TYPE BASE64` per key, in the order given.
pub fn known_hosts_lines(conn: &Connection, nodes: &[String], ips: &HashMap<String, String>) -> Result<Vec<String>> {
    let keys = of_nodes(conn, nodes)?;
    let mut out = Vec::new();
    for n in nodes {
        let names = match ips.get(n) {
            Some(ip) => format!("{n},{ip}"),
            None => n.clone(),
        };
        for k in keys.get(n).into_iter().flatten() {
            out.push(format!("{names} {k}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_checked() {
        let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOc9p4YV0xDyz2gT1SK7kEBfZxoqyUXvfDmlcpLDIKRV root@n1";
        assert_eq!(
            parse_report(&format!("{ed}\n\n{ed}\n")).unwrap(),
            vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOc9p4YV0xDyz2gT1SK7kEBfZxoqyUXvfDmlcpLDIKRV"]
        );
        assert!(parse_report("ssh-dss AAAAB3NzaC1kc3MAAACBAP root").unwrap_err().contains("ssh-dss"));
        assert!(parse_report("ssh-ed25519 not;base64!!!!!!!!!!!").unwrap_err().contains("base64"));
        assert!(parse_report("\n").is_err());
    }
}
