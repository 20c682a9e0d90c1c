//! Discovery over HTTP (see `crate::discover`). A machine no node has boots, by its discovery
//! lease, `/discover/boot.ipxe`: genesis in discovery mode, with a one-time token bound to the
//! address that fetched the script. Its agent posts the inventory to `/discover?token=T`; the
//! token is spent when the report is recorded, so the same report sent again is refused
//! (replayed), as is one from another address, an oversized or malformed one, and any while
//! discovery is stopped. Every refusal is logged and changes nothing.

use super::{text, Answer, Method, Req, Shared};
use rusqlite::Connection;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Tokens kept; beyond this many, the oldest go.
const MAX_TOKENS: i64 = 4096;
/// How long a token stays good (a machine that boots genesis reports within minutes).
const TOKEN_LIFE: Duration = Duration::from_secs(3600);

/// What a token is to the report that carries it.
#[derive(Debug, PartialEq)]
enum TokenCheck {
    Good,
    Replayed,
    Unknown,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A new token for `peer`, its digest recorded in discoverytokens (in the store: a restarted
/// oxcatd still knows it). Tokens past their life go, and the oldest beyond MAX_TOKENS.
fn issue(c: &Connection, peer: IpAddr, now: i64) -> crate::error::Result<String> {
    let token = crate::boot::nodeset::new_token();
    let digest = crate::boot::nodeset::token_digest(&token);
    c.execute("DELETE FROM discoverytokens WHERE CAST(issued AS INTEGER) < ?1", [now - TOKEN_LIFE.as_secs() as i64])?;
    c.execute(
        "DELETE FROM discoverytokens WHERE token IN \
         (SELECT token FROM discoverytokens ORDER BY CAST(issued AS INTEGER) DESC LIMIT -1 OFFSET ?1)",
        [MAX_TOKENS - 1],
    )?;
    c.execute(
        "INSERT INTO discoverytokens (token, ip, issued) VALUES (?1, ?2, ?3)",
        rusqlite::params![digest, peer.to_canonical().to_string(), now.to_string()],
    )?;
    Ok(token)
}

fn check(c: &Connection, token: &str, peer: IpAddr, now: i64) -> crate::error::Result<TokenCheck> {
    use rusqlite::OptionalExtension;
    let digest = crate::boot::nodeset::token_digest(token);
    let row: Option<(Option<String>, Option<String>, Option<String>)> = c
        .query_row("SELECT ip, issued, spent FROM discoverytokens WHERE token = ?1", [&digest], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((ip, issued, spent)) = row else { return Ok(TokenCheck::Unknown) };
    if spent.as_deref() == Some("yes") {
        return Ok(TokenCheck::Replayed);
    }
    let fresh = issued.and_then(|i| i.parse::<i64>().ok()).is_some_and(|i| now - i < TOKEN_LIFE.as_secs() as i64);
    let same = ip.and_then(|i| i.parse::<IpAddr>().ok()) == Some(peer.to_canonical());
    Ok(if fresh && same { TokenCheck::Good } else { TokenCheck::Unknown })
}

fn spend(c: &Connection, token: &str) -> crate::error::Result<()> {
    let digest = crate::boot::nodeset::token_digest(token);
    c.execute("UPDATE discoverytokens SET spent = 'yes' WHERE token = ?1", [digest])?;
    Ok(())
}

/// A refusal: logged (with the address and why) and answered.
fn refuse(shared: &Shared, peer: IpAddr, code: u16, why: String) -> Answer {
    shared.log.problem(format!("oxcatd: discovery: report from {peer} refused: {why}"));
    text(code, format!("{why}\n"))
}

pub(super) fn too_large(shared: &Shared, peer: SocketAddr) -> Answer {
    let why = format!("a discovery report is at most {} bytes", crate::discover::MAX_REPORT);
    refuse(shared, peer.ip(), 413, why)
}

/// The server as the client addressed it (the Host header), if it is a plain host[:port].
fn host_of(r: &Req) -> Option<String> {
    let h = r.host.as_deref()?;
    let ok = !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b));
    ok.then(|| h.to_string())
}

/// The iPXE script that boots genesis in discovery mode, with a fresh token for this address.
pub(super) async fn boot_script(r: &Req, shared: &Arc<Shared>) -> Answer {
    if r.method != Method::GET {
        return text(405, "method not allowed (GET only)\n");
    }
    let Some(host) = host_of(r) else { return text(400, "a Host header (the server's address) is needed\n") };
    let tftpdir = shared.read(|_, c| crate::boot::nodeset::tftpdir(c).ok()).await.flatten();
    let Some(tftpdir) = tftpdir else { return text(500, "cannot read the store\n") };
    let (k, i) = crate::boot::genesis_files("x86_64");
    if !tftpdir.join(&k).is_file() || !tftpdir.join(&i).is_file() {
        shared.problems.report("discovery genesis".into(), || {
            format!(
                "oxcatd: discovery: genesis is not in {} (run mknb): unknown machines cannot boot it",
                tftpdir.display()
            )
        });
        return text(404, "genesis is not built (mknb)\n");
    }
    let (sh, peer) = (shared.clone(), r.peer.ip());
    let issued = tokio::task::spawn_blocking(move || {
        let mut st = crate::daemon::lock(&sh.writer);
        st.write(|c| issue(c, peer, now_secs()))
    })
    .await;
    let token = match issued {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            shared
                .problems
                .report("discovery token".into(), || format!("oxcatd: discovery: cannot record a token: {e}"));
            return text(500, "cannot record a discovery token\n");
        }
        Err(_) => return text(500, "internal error\n"),
    };
    let base = format!("http://{host}");
    text(
        200,
        format!(
            "#!ipxe oxcat discovery\n\
             echo oxcat: discovery: booting genesis\n\
             kernel {base}/tftpboot/{k} initrd=initrd console=tty0 console=ttyS0,115200 oxcat.mode=discover oxcat.server={base} oxcat.token={token} BOOTIF=01-${{netX/mac:hexhyp}} || goto failed\n\
             initrd --name initrd {base}/tftpboot/{i} || goto failed\n\
             boot || goto failed\n\
             :failed\n\
             echo oxcat: discovery: could not boot genesis from {host}; rebooting in 10 s\n\
             sleep 10\n\
             reboot\n"
        ),
    )
}

/// A discovery report: checked, then recorded (matched and defined, or kept undefined).
pub(super) async fn report(r: &Req, shared: &Arc<Shared>) -> Answer {
    let peer = r.peer.ip().to_canonical();
    if r.method != Method::POST {
        return text(405, "method not allowed (POST only)\n");
    }
    let Some(token) = r.q("token").filter(|t| !t.is_empty()) else {
        return refuse(shared, peer, 400, "no token (the one the discovery boot script gave)".into());
    };
    let refused = |shared: &Shared, why: TokenCheck| match why {
        TokenCheck::Replayed => refuse(shared, peer, 409, "replayed: its token was used by a report already".into()),
        _ => refuse(shared, peer, 403, "unknown token, or not the address it was given to".into()),
    };
    let t = token.clone();
    match shared.read(move |_, c| check(c, &t, peer, now_secs())).await {
        Some(Ok(TokenCheck::Good)) => {}
        Some(Ok(why)) => return refused(shared, why),
        Some(Err(e)) => return refuse(shared, peer, 500, format!("cannot read the discovery tokens: {e}")),
        None => return text(500, "cannot read the store\n"),
    }
    let body = r.body.clone().unwrap_or_default();
    let report = match crate::discover::Report::parse(&body) {
        Ok(rep) => rep,
        Err(why) => return refuse(shared, peer, 400, why),
    };
    let sh = shared.clone();
    let (rep, t) = (report.clone(), token.clone());
    // Checked again, recorded and spent in one transaction: two copies of a report sent at once
    // cannot both count.
    let recorded = tokio::task::spawn_blocking(move || {
        let mut st = crate::daemon::lock(&sh.writer);
        st.write(|c| match check(c, &t, peer, now_secs())? {
            TokenCheck::Good => {
                let reply = crate::discover::record(c, &rep)?;
                if reply.is_some() {
                    spend(c, &t)?;
                }
                Ok(Ok(reply))
            }
            why => Ok(Err(why)),
        })
    })
    .await;
    match recorded {
        Ok(Ok(Err(why))) => refused(shared, why),
        Ok(Ok(Ok(Some(reply)))) => {
            let what = match &reply.node {
                Some(n) => format!("is {n} (matched by {})", reply.method),
                None => "matches no node: kept undefined (nodediscoverls, nodediscoverdef)".into(),
            };
            shared.log.problem(format!("oxcatd: discovery: {} ({}, {peer}) {what}", report.uuid, report.bootmac));
            if let Some(p) = &reply.problem {
                shared.log.problem(format!("oxcatd: discovery: {}: {p}", reply.node.as_deref().unwrap_or("?")));
            }
            let mut a = text(200, serde_json::to_string(&reply).expect("a reply is JSON") + "\n");
            a.ctype = "application/json";
            a
        }
        Ok(Ok(Ok(None))) => refuse(shared, peer, 409, "discovery is stopped (nodediscoverstart starts it)".into()),
        Ok(Err(e)) => refuse(shared, peer, 500, format!("not recorded: {e}")),
        Err(_) => text(500, "internal error\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_good_once_for_its_address_only_and_within_its_life() {
        let dir = tempfile::tempdir().unwrap();
        let st = crate::store::Store::open(&dir.path().join("t.db")).unwrap();
        let c = st.conn();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap());
        let now = 1_000_000;
        let tok = issue(c, a, now).unwrap();
        assert_eq!(check(c, &tok, b, now).unwrap(), TokenCheck::Unknown);
        assert_eq!(check(c, &tok, a, now + 60).unwrap(), TokenCheck::Good);
        // The same address as an IPv4-mapped IPv6 one (a dual-stack listener's view).
        assert_eq!(check(c, &tok, "::ffff:10.0.0.5".parse().unwrap(), now).unwrap(), TokenCheck::Good);
        assert_eq!(check(c, &tok, a, now + TOKEN_LIFE.as_secs() as i64).unwrap(), TokenCheck::Unknown);
        spend(c, &tok).unwrap();
        assert_eq!(check(c, &tok, a, now).unwrap(), TokenCheck::Replayed);
        assert_eq!(check(c, "nope", a, now).unwrap(), TokenCheck::Unknown);
        // Only digests are kept; old tokens go when new ones are issued.
        let kept: String = c.query_row("SELECT token FROM discoverytokens", [], |r| r.get(0)).unwrap();
        assert_ne!(kept, tok);
        issue(c, b, now + TOKEN_LIFE.as_secs() as i64 + 1).unwrap();
        let n: i64 = c.query_row("SELECT count(*) FROM discoverytokens", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
