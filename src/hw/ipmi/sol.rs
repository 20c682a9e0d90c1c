//! Serial-over-LAN (IPMI 2.0 chapters 15 and 24) on the RMCP+ session: Activate Payload (type 1),
//! then SOL packets both ways, each numbered 1-15 and acknowledged with the count of characters
//! the other side accepted; unacknowledged packets are sent again, the rest of a partly accepted
//! one is queued again. Get Payload Instance Info every `keepalive` keeps the session open, tells a
//! BMC that stopped answering from a quiet console, and notices a console another session took. Deactivate Payload and Close Session at the end.

use super::session::{ipmi_reply, Session, Target};
use super::IpmiError;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub const PAYLOAD_SOL: u8 = 0x01;
const PAYLOAD_IPMI: u8 = 0x00;
const NETFN_APP: u8 = 0x06;
const CMD_GET_PAYLOAD_INSTANCE_INFO: u8 = 0x4b;
const CMD_ACTIVATE_PAYLOAD: u8 = 0x48;
const CMD_DEACTIVATE_PAYLOAD: u8 = 0x49;
/// Activate Payload's first auxiliary byte: encrypted and authenticated packets, serial alerts
/// deferred while SOL is active, CTS/DCD/DSR left alone (what ipmitool asks for).
const ACTIVATE_AUX: u8 = 0x80 | 0x40 | 0x04 | 0x02;

/// Operation bits console -> BMC, and status bits BMC -> console (byte 4 of a SOL packet).
const NACK: u8 = 0x40;
const OP_BREAK: u8 = 0x10;
const ST_UNAVAILABLE: u8 = 0x20;
const ST_DEACTIVATING: u8 = 0x10;

/// Characters queued for the BMC at most; past it input is dropped (a BMC that accepts nothing).
const MAX_BACKLOG: usize = 64 * 1024;

/// Why a console could not be opened.
#[derive(Debug, Clone, PartialEq)]
pub enum SolError {
    /// Another session holds the console (Activate Payload answered 80h).
    Taken,
    /// The BMC refused SOL: disabled, limit reached, encryption not allowed...
    Refused(String),
    Ipmi(IpmiError),
}

impl fmt::Display for SolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SolError::Taken => f.write_str("the console is in use by another session"),
            SolError::Refused(why) => write!(f, "the BMC refused the console: {why}"),
            SolError::Ipmi(e) => e.fmt(f),
        }
    }
}

impl From<IpmiError> for SolError {
    fn from(e: IpmiError) -> SolError {
        SolError::Ipmi(e)
    }
}

/// What the console's user sends.
#[derive(Debug, Clone, PartialEq)]
pub enum SolInput {
    Data(Vec<u8>),
    /// A serial break (sysrq on Linux consoles).
    Break,
}

/// How a console session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SolEnd {
    /// The input side closed: the console was deactivated and the session closed.
    Closed,
    /// The BMC deactivated SOL (another session took the console over).
    TakenOver,
    /// The BMC stopped answering (keep-alive or data unacknowledged after every try).
    Lost(String),
}

/// One SOL packet's header fields and data.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// 1-15; 0 for a packet that only acknowledges.
    pub seq: u8,
    /// The sequence number this packet acknowledges (0: none).
    pub ack: u8,
    pub accepted: u8,
    pub status: u8,
    pub data: Vec<u8>,
}

impl Packet {
    pub fn parse(p: &[u8]) -> Option<Packet> {
        if p.len() < 4 {
            return None;
        }
        Some(Packet { seq: p[0] & 0x0f, ack: p[1] & 0x0f, accepted: p[2], status: p[3], data: p[4..].to_vec() })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.seq, self.ack, self.accepted, self.status];
        v.extend(&self.data);
        v
    }
}

struct Pending {
    seq: u8,
    data: Vec<u8>,
    brk: bool,
    sent: Instant,
    tries: u32,
}

/// What one received SOL packet gave.
#[derive(Debug, Default, PartialEq)]
pub struct Received {
    /// New console output (empty for an acknowledgement or a repeated packet).
    pub output: Vec<u8>,
    /// The acknowledgement to send back.
    pub ack: Option<Vec<u8>>,
    /// The BMC is deactivating SOL.
    pub deactivating: bool,
    /// The BMC says its serial side is not available (nothing connected).
    pub unavailable: bool,
}

/// The SOL packet protocol without I/O: numbering, acknowledgements, partial acceptance,
/// retransmission and duplicate suppression. One packet of ours is in flight at a time.
pub struct Link {
    next_seq: u8,
    last_in: Option<u8>,
    queue: VecDeque<u8>,
    /// A break is wanted after this many of the queued characters. It goes in a packet of its
    /// own once they are acknowledged: a BMC may act on a packet's break before its characters.
    break_at: Option<usize>,
    pending: Option<Pending>,
    /// After a NACK: the BMC's buffer is full, wait before sending again.
    hold_until: Option<Instant>,
    max_chunk: usize,
    retry: Duration,
    tries: u32,
    /// An empty packet numbered 1 goes first: ipmi_sim takes a first packet that has the number
    /// the previous session's last packet had for a repetition, and drops its characters.
    prime: bool,
}

impl Link {
    /// `max_chunk`: the most characters per packet; `retry` and `tries`: how long to wait for an
    /// acknowledgement and how many times to send a packet.
    pub fn new(max_chunk: usize, retry: Duration, tries: u32) -> Link {
        Link {
            next_seq: 1,
            last_in: None,
            queue: VecDeque::new(),
            break_at: None,
            pending: None,
            hold_until: None,
            max_chunk: max_chunk.clamp(1, 255),
            retry,
            tries: tries.max(1),
            prime: true,
        }
    }

    /// Queues characters for the BMC (dropped past the backlog cap).
    pub fn queue(&mut self, bytes: &[u8]) {
        let room = MAX_BACKLOG.saturating_sub(self.queue.len());
        self.queue.extend(&bytes[..bytes.len().min(room)]);
    }

    pub fn send_break(&mut self) {
        self.break_at.get_or_insert(self.queue.len());
    }

    /// Characters waiting to be sent or acknowledged.
    pub fn backlog(&self) -> usize {
        self.queue.len() + self.pending.as_ref().map_or(0, |p| p.data.len())
    }

    pub fn receive(&mut self, p: &Packet, now: Instant) -> Received {
        let mut r = Received {
            deactivating: p.status & ST_DEACTIVATING != 0,
            unavailable: p.status & ST_UNAVAILABLE != 0,
            ..Received::default()
        };
        if p.ack != 0 && self.pending.as_ref().is_some_and(|pd| pd.seq == p.ack) {
            let pd = self.pending.take().expect("checked");
            let accepted = (p.accepted as usize).min(pd.data.len());
            // The rest of a partly accepted packet goes first, in a new packet.
            for b in pd.data[accepted..].iter().rev() {
                self.queue.push_front(*b);
            }
            if let Some(at) = &mut self.break_at {
                *at += pd.data.len() - accepted;
            }
            if p.status & NACK != 0 {
                self.hold_until = Some(now + self.retry);
                if pd.brk {
                    self.break_at = Some(0);
                }
            }
        }
        if p.seq != 0 {
            r.ack = Some(Packet { seq: 0, ack: p.seq, accepted: p.data.len() as u8, status: 0, data: vec![] }.encode());
            // The same number twice in a row is a retransmission of what was already shown.
            if self.last_in != Some(p.seq) {
                self.last_in = Some(p.seq);
                r.output = p.data.clone();
            }
        }
        r
    }

    /// The packet to send now, if any: a retransmission whose time came, else the next chunk of
    /// queued input. Err when the BMC acknowledged nothing after every try.
    #[allow(clippy::result_unit_err)]
    pub fn next_packet(&mut self, now: Instant) -> Result<Option<Vec<u8>>, ()> {
        if let Some(pd) = &mut self.pending {
            if now.duration_since(pd.sent) < self.retry {
                return Ok(None);
            }
            if pd.tries >= self.tries {
                return Err(());
            }
            pd.tries += 1;
            pd.sent = now;
            let status = if pd.brk { OP_BREAK } else { 0 };
            return Ok(Some(Packet { seq: pd.seq, ack: 0, accepted: 0, status, data: pd.data.clone() }.encode()));
        }
        if self.hold_until.is_some_and(|t| now < t) || (self.queue.is_empty() && self.break_at.is_none() && !self.prime)
        {
            return Ok(None);
        }
        self.hold_until = None;
        let primer = std::mem::take(&mut self.prime);
        let brk = !primer && self.break_at == Some(0);
        let n = if primer || brk {
            0
        } else {
            self.queue.len().min(self.max_chunk).min(self.break_at.unwrap_or(usize::MAX))
        };
        let data: Vec<u8> = self.queue.drain(..n).collect();
        match &mut self.break_at {
            Some(_) if brk => self.break_at = None,
            Some(at) => *at -= n,
            None => {}
        }
        let seq = self.next_seq;
        self.next_seq = if seq >= 15 { 1 } else { seq + 1 };
        let status = if brk { OP_BREAK } else { 0 };
        let p = Packet { seq, ack: 0, accepted: 0, status, data: data.clone() }.encode();
        self.pending = Some(Pending { seq, data, brk, sent: now, tries: 1 });
        Ok(Some(p))
    }

    /// When [`Link::next_packet`] may next have something to send.
    pub fn wake_at(&self) -> Option<Instant> {
        match (&self.pending, self.hold_until) {
            (Some(pd), _) => Some(pd.sent + self.retry),
            (None, Some(t)) if !self.queue.is_empty() || self.break_at.is_some() => Some(t),
            _ => None,
        }
    }
}

/// An active console on one BMC.
pub struct Console {
    session: Session,
    link: Link,
    target: Target,
    keepalive: Duration,
}

/// Activate Payload (SOL, instance 1).
async fn activate_payload(s: &mut Session) -> Result<Vec<u8>, IpmiError> {
    s.request(NETFN_APP, CMD_ACTIVATE_PAYLOAD, &[PAYLOAD_SOL, 1, ACTIVATE_AUX, 0, 0, 0]).await
}

impl Console {
    /// Logs in and activates SOL. With `force`, a console another session holds is taken over
    /// (Deactivate Payload, then Activate again); without it that is [`SolError::Taken`].
    pub async fn activate(target: &Target, force: bool, keepalive: Duration) -> Result<Console, SolError> {
        let mut s = Session::open(target, true).await?;
        let mut answer = activate_payload(&mut s).await;
        if force && matches!(answer, Err(IpmiError::Completion { code: 0x80, .. })) {
            let _ = s.request(NETFN_APP, CMD_DEACTIVATE_PAYLOAD, &[PAYLOAD_SOL, 1, 0, 0, 0, 0]).await;
            answer = activate_payload(&mut s).await;
        }
        let data = match answer {
            Ok(d) => d,
            Err(e) => {
                s.close().await;
                return Err(match e {
                    IpmiError::Completion { code: 0x80, .. } => SolError::Taken,
                    IpmiError::Completion { code: 0xc1, .. } => {
                        SolError::Refused("it does not offer Serial-over-LAN (c1h)".into())
                    }
                    IpmiError::Completion { code: 0x81, .. } => SolError::Refused("SOL is disabled (81h)".into()),
                    IpmiError::Completion { code: 0x82, .. } => {
                        SolError::Refused("its SOL activation limit is reached (82h)".into())
                    }
                    IpmiError::Completion { code: code @ (0x83 | 0x84), .. } => {
                        SolError::Refused(format!("it does not allow this encryption setting ({code:02x}h)"))
                    }
                    IpmiError::Completion { code: 0xd4, .. } => {
                        SolError::Refused("the user may not use SOL (insufficient privilege, d4h)".into())
                    }
                    other => SolError::Ipmi(other),
                });
            }
        };
        // Aux data (4 bytes), then the largest inbound payload the BMC takes (header included).
        let inbound = data.get(4..6).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize).unwrap_or(0);
        let max_chunk = if inbound > 4 { inbound - 4 } else { 200 };
        let link = Link::new(max_chunk.min(200), target.timeout.min(Duration::from_secs(1)), target.tries.max(3));
        Ok(Console { session: s, link, target: target.clone(), keepalive })
    }

    /// Relays until the input closes, the BMC deactivates SOL or stops answering: console output
    /// goes to `output` as it arrives. Deactivates SOL and closes the session at the end.
    pub async fn run(mut self, input: &mut mpsc::Receiver<SolInput>, output: &mut (dyn FnMut(&[u8]) + Send)) -> SolEnd {
        let end = self.pump(input, output).await;
        let mut s = self.session;
        if end == SolEnd::Closed {
            let (_, msg) = s.request_message(NETFN_APP, CMD_DEACTIVATE_PAYLOAD, &[PAYLOAD_SOL, 1, 0, 0, 0, 0]);
            let _ = s.send_payload(PAYLOAD_IPMI, &msg).await;
        }
        if !matches!(end, SolEnd::Lost(_)) {
            s.close().await;
        }
        end
    }

    async fn pump(&mut self, input: &mut mpsc::Receiver<SolInput>, output: &mut (dyn FnMut(&[u8]) + Send)) -> SolEnd {
        let mut keepalive_at = Instant::now() + self.keepalive;
        // The keep-alive request in flight: its sequence number, message, when to give up on this
        // try, and tries so far.
        let mut asking: Option<(u8, Vec<u8>, Instant, u32)> = None;
        // Whether this BMC names the holding session by the id we know it by (learnt from its
        // first answer, when the console is surely ours).
        let mut names_us: Option<bool> = None;
        loop {
            let now = Instant::now();
            match self.link.next_packet(now) {
                Err(()) => {
                    return SolEnd::Lost(format!("the BMC acknowledged no console data ({} tries)", self.link.tries))
                }
                Ok(Some(p)) => {
                    let _ = self.session.send_payload(PAYLOAD_SOL, &p).await;
                    continue;
                }
                Ok(None) => {}
            }
            match &mut asking {
                None if now >= keepalive_at => {
                    let (seq, msg) =
                        self.session.request_message(NETFN_APP, CMD_GET_PAYLOAD_INSTANCE_INFO, &[PAYLOAD_SOL, 1]);
                    let _ = self.session.send_payload(PAYLOAD_IPMI, &msg).await;
                    asking = Some((seq, msg, now + self.target.timeout, 1));
                }
                Some((_, msg, deadline, tries)) if now >= *deadline => {
                    if *tries >= self.target.tries {
                        return SolEnd::Lost(
                            IpmiError::Timeout {
                                addr: self.target.addr,
                                tries: self.target.tries,
                                secs: self.target.timeout.as_secs_f64(),
                            }
                            .to_string(),
                        );
                    }
                    *tries += 1;
                    *deadline = now + self.target.timeout;
                    let msg = msg.clone();
                    let _ = self.session.send_payload(PAYLOAD_IPMI, &msg).await;
                }
                _ => {}
            }
            let mut wake = asking.as_ref().map_or(keepalive_at, |a| a.2);
            if let Some(t) = self.link.wake_at() {
                wake = wake.min(t);
            }
            let room = self.link.backlog() < 4096;
            tokio::select! {
                got = self.session.recv_payload() => {
                    match got {
                        Ok((PAYLOAD_SOL, p)) => {
                            let Some(p) = Packet::parse(&p) else { continue };
                            let r = self.link.receive(&p, Instant::now());
                            if let Some(ack) = r.ack {
                                let _ = self.session.send_payload(PAYLOAD_SOL, &ack).await;
                            }
                            if !r.output.is_empty() {
                                output(&r.output);
                            }
                            if r.deactivating {
                                return SolEnd::TakenOver;
                            }
                        }
                        Ok((PAYLOAD_IPMI, p)) => {
                            if let Some((seq, ..)) = asking {
                                if let Some(answer) = ipmi_reply(&p, NETFN_APP, seq, CMD_GET_PAYLOAD_INSTANCE_INFO) {
                                    // Any answer shows the session lives; one naming no session
                                    // says the console was taken from us.
                                    if let Ok(d) = &answer {
                                        if let Some(holder) = d.get(..4) {
                                            if taken(holder, self.session.bmc_session_id(), &mut names_us) {
                                                return SolEnd::TakenOver;
                                            }
                                        }
                                    }
                                    asking = None;
                                    keepalive_at = Instant::now() + self.keepalive;
                                }
                            }
                        }
                        Ok(_) => {}
                        // Nothing listens (ICMP): the keep-alive decides when the BMC is gone.
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                m = input.recv(), if room => match m {
                    Some(SolInput::Data(d)) => self.link.queue(&d),
                    Some(SolInput::Break) => self.link.send_break(),
                    None => return SolEnd::Closed,
                },
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

/// Whether Get Payload Instance Info's holder (`holder`, 4 bytes) says another session took the
/// console: no holder, or (where the BMC's first answer named our session id) another id. A BMC
/// whose first answer named some other id for us has its ids compared no further.
fn taken(holder: &[u8], ours: u32, names_us: &mut Option<bool>) -> bool {
    if holder == [0, 0, 0, 0] {
        return true;
    }
    let same = holder == ours.to_le_bytes();
    match *names_us {
        None => {
            *names_us = Some(same);
            false
        }
        Some(true) => !same,
        Some(false) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u8, ack: u8, accepted: u8, status: u8, data: &[u8]) -> Packet {
        Packet { seq, ack, accepted, status, data: data.to_vec() }
    }

    /// A link past its first packet: an empty one numbered 1, acknowledged.
    fn primed(max_chunk: usize, t0: Instant) -> Link {
        let mut l = Link::new(max_chunk, Duration::from_millis(500), 3);
        let p = Packet::parse(&l.next_packet(t0).unwrap().unwrap()).unwrap();
        assert_eq!(p, pkt(1, 0, 0, 0, b""));
        l.receive(&pkt(0, 1, 9, 0, b""), t0);
        l
    }

    #[test]
    fn packets_are_numbered_acknowledged_and_partly_accepted_data_is_sent_again() {
        let t0 = Instant::now();
        let mut l = primed(4, t0);
        l.queue(b"abcdef");
        let p = Packet::parse(&l.next_packet(t0).unwrap().unwrap()).unwrap();
        assert_eq!((p.seq, p.data.as_slice()), (2, &b"abcd"[..]));
        // One packet in flight at a time.
        assert_eq!(l.next_packet(t0).unwrap(), None);
        // The BMC took 2 of 4: "cd" goes again, first, under the next number.
        l.receive(&pkt(0, 2, 2, 0, b""), t0);
        let p = Packet::parse(&l.next_packet(t0).unwrap().unwrap()).unwrap();
        assert_eq!((p.seq, p.data.as_slice()), (3, &b"cdef"[..]));
        // Unacknowledged: sent again with the same number after the retry time, then given up.
        assert_eq!(l.next_packet(t0 + Duration::from_millis(100)).unwrap(), None);
        let again = Packet::parse(&l.next_packet(t0 + Duration::from_millis(600)).unwrap().unwrap()).unwrap();
        assert_eq!((again.seq, again.data.as_slice()), (3, &b"cdef"[..]));
        l.next_packet(t0 + Duration::from_millis(1200)).unwrap().unwrap();
        assert!(l.next_packet(t0 + Duration::from_millis(1800)).is_err());
    }

    #[test]
    fn numbers_wrap_from_15_to_1_and_breaks_carry_the_break_bit() {
        let t0 = Instant::now();
        let mut l = primed(10, t0);
        let mut seqs = vec![];
        for _ in 0..16 {
            l.queue(b"x");
            let p = Packet::parse(&l.next_packet(t0).unwrap().unwrap()).unwrap();
            seqs.push(p.seq);
            l.receive(&pkt(0, p.seq, 1, 0, b""), t0);
        }
        assert_eq!(seqs, (2..=15).chain([1, 2]).collect::<Vec<u8>>());
        l.send_break();
        let p = Packet::parse(&l.next_packet(t0).unwrap().unwrap()).unwrap();
        assert_eq!((p.status, p.data.len()), (OP_BREAK, 0));
    }

    #[test]
    fn a_break_goes_alone_after_the_characters_typed_before_it() {
        let t0 = Instant::now();
        let mut l = primed(4, t0);
        l.queue(b"before");
        l.send_break();
        l.queue(b"after");
        let mut sent = vec![];
        while let Some(p) = l.next_packet(t0).unwrap() {
            let p = Packet::parse(&p).unwrap();
            // The first "befo" is accepted in part: its rest goes again, still before the break.
            let accepted = if sent.is_empty() { 2 } else { p.data.len() as u8 };
            l.receive(&pkt(0, p.seq, accepted, 0, b""), t0);
            sent.push((p.status == OP_BREAK, String::from_utf8(p.data[..accepted as usize].to_vec()).unwrap()));
        }
        let want = [(false, "be"), (false, "fore"), (true, ""), (false, "afte"), (false, "r")];
        assert_eq!(sent, want.map(|(b, s)| (b, s.to_string())));
    }

    #[test]
    fn output_is_acknowledged_and_a_repeated_packet_shown_once() {
        let t0 = Instant::now();
        let mut l = Link::new(10, Duration::from_millis(500), 3);
        let r = l.receive(&pkt(3, 0, 0, 0, b"login: "), t0);
        assert_eq!(r.output, b"login: ");
        assert_eq!(Packet::parse(&r.ack.unwrap()).unwrap(), pkt(0, 3, 7, 0, b""));
        let r = l.receive(&pkt(3, 0, 0, 0, b"login: "), t0);
        assert!(r.output.is_empty());
        assert!(r.ack.is_some(), "a retransmission is acknowledged again");
        assert!(l.receive(&pkt(0, 0, 0, ST_DEACTIVATING, b""), t0).deactivating);
    }

    #[test]
    fn another_holder_means_taken_only_where_the_bmc_names_us_by_our_id() {
        let ours = 0x0602;
        let mut names_us = None;
        assert!(!taken(&[2, 6, 0, 0], ours, &mut names_us));
        assert!(taken(&[3, 6, 0, 0], ours, &mut names_us));
        assert!(taken(&[0, 0, 0, 0], ours, &mut names_us));
        // A BMC that names us otherwise: only "no holder" counts.
        let mut names_us = None;
        assert!(!taken(&[9, 9, 9, 9], ours, &mut names_us));
        assert!(!taken(&[8, 8, 8, 8], ours, &mut names_us));
        assert!(taken(&[0, 0, 0, 0], ours, &mut names_us));
    }

    #[test]
    fn a_nack_holds_sending_for_the_retry_time() {
        let t0 = Instant::now();
        let mut l = primed(10, t0);
        l.queue(b"abc");
        l.next_packet(t0).unwrap().unwrap();
        l.receive(&pkt(0, 2, 0, NACK, b""), t0);
        assert_eq!(l.next_packet(t0 + Duration::from_millis(100)).unwrap(), None);
        let p = Packet::parse(&l.next_packet(t0 + Duration::from_millis(600)).unwrap().unwrap()).unwrap();
        assert_eq!(p.data, b"abc");
    }
}
