//! An RMCP+ (IPMI 2.0 LAN) session over one UDP socket: Get Channel Authentication Capabilities,
//! Open Session, RAKP 1-4, Set Session Privilege Level, then authenticated and encrypted requests,
//! each retried on timeout, and Close Session. Cipher suite 17 first, falling back to 3 when the BMC
//! does not offer it. The password is only ever used as an HMAC key: never logged or printed.

use super::crypto::{self, Keys, Rakp, Suite};
use super::IpmiError;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

/// How to reach and log in to one BMC.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
    /// Cipher suites to try, in order.
    pub suites: Vec<Suite>,
    /// How long to wait for each answer, and how many times to send.
    pub timeout: Duration,
    pub tries: u32,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("addr", &self.addr).field("user", &self.user).finish_non_exhaustive()
    }
}

const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xff, 0x07];
const PAYLOAD_IPMI: u8 = 0x00;
const PAYLOAD_OPEN_REQ: u8 = 0x10;
const PAYLOAD_OPEN_RESP: u8 = 0x11;
const PAYLOAD_RAKP1: u8 = 0x12;
const PAYLOAD_RAKP2: u8 = 0x13;
const PAYLOAD_RAKP3: u8 = 0x14;
const PAYLOAD_RAKP4: u8 = 0x15;
const ENCRYPTED: u8 = 0x80;
const AUTHENTICATED: u8 = 0x40;
const PRIV_ADMIN: u8 = 0x04;
/// RAKP 1 role byte: administrator, user looked up by name only.
const ROLE: u8 = 0x10 | PRIV_ADMIN;
/// Our requester address in IPMB terms (a remote console software id).
const RQ_ADDR: u8 = 0x81;
const BMC_ADDR: u8 = 0x20;

pub struct Session {
    sock: UdpSocket,
    target: Target,
    suite: Suite,
    keys: Keys,
    bmc_sid: u32,
    out_seq: u32,
    rq_seq: u8,
    open: bool,
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random source works");
    b
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)).wrapping_neg()
}

/// An RMCP+ packet that is neither authenticated nor encrypted (session set-up).
fn plain_packet(payload_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = RMCP_HEADER.to_vec();
    p.extend([0x06, payload_type]);
    p.extend([0u8; 8]);
    p.extend((payload.len() as u16).to_le_bytes());
    p.extend(payload);
    p
}

/// The payload of an RMCP+ packet of the wanted type, checked and (when sealed) decrypted.
pub fn open_packet(buf: &[u8], want: u8, sealed: Option<(Suite, &Keys)>) -> Option<Vec<u8>> {
    if buf.len() < 16 || buf[..4] != RMCP_HEADER || buf[4] != 0x06 || buf[5] & 0x3f != want {
        return None;
    }
    let len = u16::from_le_bytes([buf[14], buf[15]]) as usize;
    let payload = buf.get(16..16 + len)?;
    let Some((suite, keys)) = sealed else { return Some(payload.to_vec()) };
    if buf[5] & AUTHENTICATED == 0 {
        return None;
    }
    // Trailer: integrity pad, pad length, next header, then the AuthCode, which ends the packet.
    if buf.len() < 16 + len + 2 + suite.icv_len() {
        return None;
    }
    let covered_end = buf.len() - suite.icv_len();
    if crypto::packet_auth(suite, &keys.k1, &buf[4..covered_end]) != buf[covered_end..] {
        return None;
    }
    if buf[5] & ENCRYPTED != 0 {
        crypto::decrypt(&keys.k2, payload)
    } else {
        Some(payload.to_vec())
    }
}

impl Session {
    /// Logs in: tries each cipher suite of the target in order. A session starts at User
    /// privilege, enough to read status, sensors, FRU and the SEL; `operator` raises it to
    /// administrator (Set Session Privilege Level) for commands that change the machine.
    pub async fn open(target: &Target, operator: bool) -> Result<Session, IpmiError> {
        let bind: SocketAddr = if target.addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
        let sock = UdpSocket::bind(bind).await.map_err(|e| IpmiError::Io(e.to_string()))?;
        sock.connect(target.addr).await.map_err(|e| IpmiError::Io(e.to_string()))?;
        let mut last = IpmiError::Protocol("no cipher suite to try".into());
        channel_auth_capabilities(&sock, target).await?;
        for &suite in &target.suites {
            match Session::login(&sock, target, suite).await {
                Ok((keys, bmc_sid)) => {
                    let mut s = Session {
                        sock,
                        target: target.clone(),
                        suite,
                        keys,
                        bmc_sid,
                        out_seq: 0,
                        rq_seq: 0,
                        open: true,
                    };
                    // ipmi-rs never asks for the privilege, so Chassis Control fails with d4h there.
                    if !operator {
                        return Ok(s);
                    }
                    if let Err(e) = s.request(0x06, 0x3b, &[PRIV_ADMIN]).await {
                        s.close().await;
                        return Err(e);
                    }
                    return Ok(s);
                }
                Err(IpmiError::CipherRefused(why)) => last = IpmiError::CipherRefused(why),
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn login(sock: &UdpSocket, t: &Target, suite: Suite) -> Result<(Keys, u32), IpmiError> {
        let sid_m = u32::from_le_bytes(random::<4>()) | 1;
        let tag = random::<1>()[0];
        let mut open = vec![tag, PRIV_ADMIN, 0, 0];
        open.extend(sid_m.to_le_bytes());
        open.extend([0x00, 0, 0, 0x08, suite.auth_alg(), 0, 0, 0]);
        open.extend([0x01, 0, 0, 0x08, suite.integrity_alg(), 0, 0, 0]);
        open.extend([0x02, 0, 0, 0x08, suite.confidentiality_alg(), 0, 0, 0]);
        let resp = exchange(sock, t, &plain_packet(PAYLOAD_OPEN_REQ, &open), |b| {
            open_packet(b, PAYLOAD_OPEN_RESP, None).filter(|p| p.len() >= 2 && p[0] == tag)
        })
        .await?;
        let sid_c = open_session_reply(&resp, sid_m, suite)?;
        let rm = random::<16>();
        let user = t.user.as_bytes();
        if user.len() > 16 {
            return Err(IpmiError::Auth("user name longer than 16 bytes".into()));
        }
        let mut r1 = vec![tag, 0, 0, 0];
        r1.extend(sid_c.to_le_bytes());
        r1.extend(rm);
        r1.extend([ROLE, 0, 0, user.len() as u8]);
        r1.extend(user);
        let r2 = exchange(sock, t, &plain_packet(PAYLOAD_RAKP1, &r1), |b| {
            open_packet(b, PAYLOAD_RAKP2, None).filter(|p| p.len() >= 2 && p[0] == tag)
        })
        .await?;
        let r2 = rakp2_reply(&r2, suite)?;
        let (rc, guid) = (r2.rc, r2.guid);
        let rakp = Rakp { suite, password: t.password.as_bytes(), sid_m, sid_c, rm, rc, guid, role: ROLE, user };
        if r2.code != rakp.rakp2_code() {
            return Err(IpmiError::Auth("invalid user name or password".into()));
        }
        let keys = rakp.keys(None);
        let mut r3 = vec![tag, 0, 0, 0];
        r3.extend(sid_c.to_le_bytes());
        r3.extend(rakp.rakp3_code());
        let r4 = exchange(sock, t, &plain_packet(PAYLOAD_RAKP3, &r3), |b| {
            open_packet(b, PAYLOAD_RAKP4, None).filter(|p| p.len() >= 2 && p[0] == tag)
        })
        .await?;
        rakp4_reply(&r4, &rakp.rakp4_icv(&keys.sik))?;
        Ok((keys, sid_c))
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Sends one IPMI request; Ok(data after the completion code) when it completed normally.
    pub async fn request(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        let (seq, msg) = self.request_message(netfn, cmd, data);
        let deadline_per_try = self.target.timeout;
        let mut tries = 0;
        loop {
            tries += 1;
            let packet = self.seal(&msg);
            self.sock.send(&packet).await.map_err(|e| IpmiError::Io(e.to_string()))?;
            let deadline = Instant::now() + deadline_per_try;
            let mut buf = [0u8; 1024];
            loop {
                let n = match timeout_at(deadline, self.sock.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(e)) => return Err(IpmiError::Io(e.to_string())),
                    Ok(Ok(n)) => n,
                };
                let Some(p) = open_packet(&buf[..n], PAYLOAD_IPMI, Some((self.suite, &self.keys))) else { continue };
                match ipmi_reply(&p, netfn, seq, cmd) {
                    Some(answer) => return answer,
                    None => continue,
                }
            }
            if tries >= self.target.tries {
                return Err(self.timeout_error());
            }
        }
    }

    fn timeout_error(&self) -> IpmiError {
        IpmiError::Timeout { addr: self.target.addr, tries: self.target.tries, secs: self.target.timeout.as_secs_f64() }
    }

    /// Wraps an IPMI message: encrypted, then authenticated with the session's next sequence number.
    fn seal(&mut self, msg: &[u8]) -> Vec<u8> {
        self.seal_as(PAYLOAD_IPMI, msg)
    }

    /// Wraps a payload of any type (IPMI message, SOL packet) as [`Session::seal`] does.
    fn seal_as(&mut self, payload_type: u8, msg: &[u8]) -> Vec<u8> {
        self.out_seq = self.out_seq.wrapping_add(1).max(1);
        let payload = crypto::encrypt(&self.keys.k2, random::<16>(), msg);
        let mut p = RMCP_HEADER.to_vec();
        p.extend([0x06, payload_type | ENCRYPTED | AUTHENTICATED]);
        p.extend(self.bmc_sid.to_le_bytes());
        p.extend(self.out_seq.to_le_bytes());
        p.extend((payload.len() as u16).to_le_bytes());
        p.extend(payload);
        // Integrity pad: AuthType..NextHeader must be a multiple of 4 bytes.
        let covered = p.len() - 4 + 2;
        let pad = (4 - covered % 4) % 4;
        p.extend(std::iter::repeat_n(0xffu8, pad));
        p.extend([pad as u8, 0x07]);
        let code = crypto::packet_auth(self.suite, &self.keys.k1, &p[4..]);
        p.extend(code);
        p
    }

    /// Sends one sealed payload of `payload_type` without waiting for anything (SOL packets, and
    /// requests whose answers the caller reads with [`Session::recv_payload`]).
    pub async fn send_payload(&mut self, payload_type: u8, payload: &[u8]) -> Result<(), IpmiError> {
        let packet = self.seal_as(payload_type, payload);
        self.sock.send(&packet).await.map(|_| ()).map_err(|e| IpmiError::Io(e.to_string()))
    }

    /// An IPMI request message with the session's next requester sequence number: (that number,
    /// the message), to send with [`Session::send_payload`] and match with [`ipmi_reply`].
    pub fn request_message(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> (u8, Vec<u8>) {
        self.rq_seq = (self.rq_seq + 1) & 0x3f;
        let seq = self.rq_seq;
        let mut msg = vec![BMC_ADDR, netfn << 2];
        msg.push(checksum(&msg));
        msg.extend([RQ_ADDR, seq << 2, cmd]);
        msg.extend(data);
        msg.push(checksum(&msg[3..]));
        (seq, msg)
    }

    /// Waits for the next packet of this session: its payload type and opened payload. Packets
    /// that do not authenticate are skipped; a receive error (an ICMP port unreachable: nothing
    /// listens any more) is returned as such.
    pub async fn recv_payload(&self) -> Result<(u8, Vec<u8>), IpmiError> {
        let mut buf = [0u8; 1024];
        loop {
            let n = self.sock.recv(&mut buf).await.map_err(|e| IpmiError::Io(e.to_string()))?;
            if n < 6 {
                continue;
            }
            let payload_type = buf[5] & 0x3f;
            if let Some(p) = open_packet(&buf[..n], payload_type, Some((self.suite, &self.keys))) {
                return Ok((payload_type, p));
            }
        }
    }

    /// The BMC's session id (what Close Session names).
    pub fn bmc_session_id(&self) -> u32 {
        self.bmc_sid
    }

    /// Closes the session (best effort: one try, short wait). Always call it, also after errors.
    pub async fn close(mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        self.target.tries = 1;
        self.target.timeout = self.target.timeout.min(Duration::from_millis(500));
        let sid = self.bmc_sid.to_le_bytes();
        let _ = self.request(0x06, 0x3c, &sid).await;
    }
}

/// Whether an IPMI BMC answers at the target's address (Get Channel Authentication
/// Capabilities, no login): bmcdiscover's scan.
pub async fn probe(target: &Target) -> Result<(), IpmiError> {
    let bind: SocketAddr = if target.addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
    let sock = UdpSocket::bind(bind).await.map_err(|e| IpmiError::Io(e.to_string()))?;
    sock.connect(target.addr).await.map_err(|e| IpmiError::Io(e.to_string()))?;
    channel_auth_capabilities(&sock, target).await
}

/// Get Channel Authentication Capabilities (IPMI 1.5 framing, no session): checks the BMC speaks
/// IPMI 2.0 before logging in, as ipmitool and FreeIPMI do; some BMCs expect it first.
async fn channel_auth_capabilities(sock: &UdpSocket, t: &Target) -> Result<(), IpmiError> {
    let mut msg = vec![BMC_ADDR, 0x06 << 2];
    msg.push(checksum(&msg));
    msg.extend([RQ_ADDR, 0x00, 0x38, 0x8e, PRIV_ADMIN]);
    msg.push(checksum(&msg[3..]));
    let mut p = RMCP_HEADER.to_vec();
    p.extend([0x00, 0, 0, 0, 0, 0, 0, 0, 0, msg.len() as u8]);
    p.extend(&msg);
    exchange(sock, t, &p, channel_auth_reply).await?
}

/// The answer to Get Channel Authentication Capabilities (IPMI 1.5 framing): None when the packet
/// is not that answer, else whether it completed normally.
pub fn channel_auth_reply(b: &[u8]) -> Option<Result<(), IpmiError>> {
    if b.len() < 14 + 8 || b[..4] != RMCP_HEADER || b[4] != 0x00 || b[14 + 5] != 0x38 {
        return None;
    }
    Some(match b[14 + 6] {
        0 => Ok(()),
        code => Err(IpmiError::Completion { netfn: 0x06, cmd: 0x38, code }),
    })
}

/// The Open Session response's payload, checked: the BMC's session id.
pub fn open_session_reply(resp: &[u8], sid_m: u32, suite: Suite) -> Result<u32, IpmiError> {
    match resp.get(1) {
        Some(0) => {}
        // Invalid authentication/integrity/confidentiality algorithm, no matching payload or
        // no cipher suite match: the BMC does not do this suite; try the next one.
        Some(&code @ (0x04..=0x07 | 0x10 | 0x11)) => {
            return Err(IpmiError::CipherRefused(format!("cipher suite {} refused ({code:02x}h)", suite.number())))
        }
        Some(&code) => return Err(rakp_status(code)),
        None => return Err(IpmiError::Protocol("malformed Open Session response".into())),
    }
    if resp.len() < 36 || u32::from_le_bytes(resp[4..8].try_into().expect("4 bytes")) != sid_m {
        return Err(IpmiError::Protocol("malformed Open Session response".into()));
    }
    // ipmi_sim answers with maximum privilege 0; the privilege is asked for again later.
    Ok(u32::from_le_bytes(resp[8..12].try_into().expect("4 bytes")))
}

/// What RAKP message 2 carries: the BMC's random number, its GUID and its key exchange code.
pub struct Rakp2<'a> {
    pub rc: [u8; 16],
    pub guid: [u8; 16],
    pub code: &'a [u8],
}

/// RAKP message 2's payload, checked.
pub fn rakp2_reply(r2: &[u8], suite: Suite) -> Result<Rakp2<'_>, IpmiError> {
    match r2.get(1) {
        Some(0) => {}
        Some(&code) => return Err(rakp_status(code)),
        None => return Err(IpmiError::Protocol("malformed RAKP 2".into())),
    }
    let n = suite.rakp_code_len();
    if r2.len() < 40 + n {
        return Err(IpmiError::Protocol("malformed RAKP 2".into()));
    }
    Ok(Rakp2 {
        rc: r2[8..24].try_into().expect("16 bytes"),
        guid: r2[24..40].try_into().expect("16 bytes"),
        code: &r2[40..40 + n],
    })
}

/// RAKP message 4's payload, checked against the integrity check value it must carry.
pub fn rakp4_reply(r4: &[u8], icv: &[u8]) -> Result<(), IpmiError> {
    match r4.get(1) {
        Some(0) => {}
        Some(&code) => return Err(rakp_status(code)),
        None => return Err(IpmiError::Protocol("malformed RAKP 4".into())),
    }
    if r4.len() < 8 + icv.len() || r4[8..8 + icv.len()] != icv[..] {
        return Err(IpmiError::Protocol("RAKP 4 integrity check failed".into()));
    }
    Ok(())
}

/// An opened IPMI response message: None when it answers another request, else the data after
/// the completion code, or the completion code as an error.
pub fn ipmi_reply(p: &[u8], netfn: u8, seq: u8, cmd: u8) -> Option<Result<Vec<u8>, IpmiError>> {
    // rqAddr, netFn/LUN, chk, rsAddr, rqSeq/LUN, cmd, completion code, data..., chk
    if p.len() < 8 || p[1] >> 2 != netfn.wrapping_add(1) || p[4] >> 2 != seq || p[5] != cmd {
        return None;
    }
    Some(match p[6] {
        0 => Ok(p[7..p.len() - 1].to_vec()),
        code => Err(IpmiError::Completion { netfn, cmd, code }),
    })
}

/// Sends `packet` and waits for an answer `accept` takes, resending on timeout.
async fn exchange<F, T>(sock: &UdpSocket, t: &Target, packet: &[u8], accept: F) -> Result<T, IpmiError>
where
    F: Fn(&[u8]) -> Option<T>,
{
    let mut buf = [0u8; 1024];
    for _ in 0..t.tries.max(1) {
        sock.send(packet).await.map_err(|e| IpmiError::Io(e.to_string()))?;
        let deadline = Instant::now() + t.timeout;
        loop {
            match timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break,
                // An ICMP port unreachable (nothing listens) shows as a receive error: keep
                // waiting, as for a BMC that is down.
                Ok(Err(_)) => continue,
                Ok(Ok(n)) => {
                    if let Some(v) = accept(&buf[..n]) {
                        return Ok(v);
                    }
                }
            }
        }
    }
    Err(IpmiError::Timeout { addr: t.addr, tries: t.tries.max(1), secs: t.timeout.as_secs_f64() })
}

/// RMCP+ status codes (IPMI 2.0 table 13-15) of Open Session and RAKP answers.
fn rakp_status(code: u8) -> IpmiError {
    match code {
        // Unauthorized name; invalid integrity check value (RAKP 3 failed: a wrong password).
        0x0d | 0x0f => IpmiError::Auth("invalid user name or password".into()),
        0x01 | 0x0b => IpmiError::Protocol(format!("the BMC has no free session ({code:02x}h)")),
        0x09 | 0x0a => IpmiError::Auth(format!("the user may not log in as administrator ({code:02x}h)")),
        other => IpmiError::Protocol(format!("session set-up refused with status {other:02x}h")),
    }
}
