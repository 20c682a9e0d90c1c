//! Discovery over HTTP (see `crate::discover`). A machine no node has boots, by its discovery
//! lease, `/discover/boot.ipxe`: genesis in discovery mode, with a one-time token bound to the
//! address that fetched the script. Its agent posts the inventory to `/discover?token=T`; the
//! token is spent when the report is recorded, so the same report sent again is refused
//! (replayed), as is one from another address, an oversized or malformed one, and any while
//! discovery is stopped. Every refusal is logged and changes nothing.

use super::{text, Answer, Method, Req, Shared};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tokens handed out and not yet used; beyond this many, the oldest go.
const MAX_TOKENS: usize = 4096;
/// How long a token stays good (a machine that boots genesis reports within minutes).
const TOKEN_LIFE: Duration = Duration::from_secs(3600);

/// Discovery tokens: issued (token digest -> address, when) and spent (digests, newest last).
#[derive(Default)]
pub struct Tokens(Mutex<TokenSets>);

#[derive(Default)]
struct TokenSets {
    issued: HashMap<String, (IpAddr, Instant)>,
    order: VecDeque<String>,
    spent: VecDeque<String>,
}

/// What a token is to the report that carries it.
#[derive(Debug, PartialEq)]
enum TokenCheck {
    Good,
    Replayed,
    Unknown,
}

impl Tokens {
    fn issue(&self, peer: IpAddr) -> String {
        let token = crate::boot::nodeset::new_token();
        let mut t = crate::daemon::lock(&self.0);
        let now = Instant::now();
        t.issued.retain(|_, (_, at)| now.duration_since(*at) < TOKEN_LIFE);
        while t.order.len() >= MAX_TOKENS {
            if let Some(old) = t.order.pop_front() {
                t.issued.remove(&old);
            }
        }
        let digest = crate::boot::nodeset::token_digest(&token);
        t.issued.insert(digest.clone(), (peer, now));
        t.order.push_back(digest);
        token
    }

    fn check(&self, token: &str, peer: IpAddr) -> TokenCheck {
        let digest = crate::boot::nodeset::token_digest(token);
        let t = crate::daemon::lock(&self.0);
        if t.spent.contains(&digest) {
            return TokenCheck::Replayed;
        }
        match t.issued.get(&digest) {
            Some((ip, at)) if *ip == peer && at.elapsed() < TOKEN_LIFE => TokenCheck::Good,
            _ => TokenCheck::Unknown,
        }
    }

    fn spend(&self, token: &str) {
        let digest = crate::boot::nodeset::token_digest(token);
        let mut t = crate::daemon::lock(&self.0);
        t.issued.remove(&digest);
        t.order.retain(|d| *d != digest);
        if t.spent.len() >= MAX_TOKENS {
            t.spent.pop_front();
        }
        t.spent.push_back(digest);
    }
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
    let token = shared.discovery.issue(r.peer.ip());
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
    match shared.discovery.check(&token, peer) {
        TokenCheck::Good => {}
        TokenCheck::Replayed => {
            return refuse(shared, peer, 409, "replayed: its token was used by a report already".into())
        }
        TokenCheck::Unknown => {
            return refuse(shared, peer, 403, "unknown token, or not the address it was given to".into())
        }
    }
    let body = r.body.clone().unwrap_or_default();
    let report = match crate::discover::Report::parse(&body) {
        Ok(rep) => rep,
        Err(why) => return refuse(shared, peer, 400, why),
    };
    let sh = shared.clone();
    let rep = report.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        let mut st = crate::daemon::lock(&sh.writer);
        st.write(|c| crate::discover::record(c, &rep))
    })
    .await;
    match recorded {
        Ok(Ok(Some(reply))) => {
            shared.discovery.spend(&token);
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
        Ok(Ok(None)) => refuse(shared, peer, 409, "discovery is stopped (nodediscoverstart starts it)".into()),
        Ok(Err(e)) => refuse(shared, peer, 500, format!("not recorded: {e}")),
        Err(_) => text(500, "internal error\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_good_once_and_for_its_address_only() {
        let t = Tokens::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap());
        let tok = t.issue(a);
        assert_eq!(t.check(&tok, b), TokenCheck::Unknown);
        assert_eq!(t.check(&tok, a), TokenCheck::Good);
        t.spend(&tok);
        assert_eq!(t.check(&tok, a), TokenCheck::Replayed);
        assert_eq!(t.check("nope", a), TokenCheck::Unknown);
    }
}
