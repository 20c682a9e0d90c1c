//! TFTP: what oxcatd does with the bytes of a datagram: a read request parsed and its options
//! negotiated (the OACK answers each option once, within the server's limits), and a client's
//! reply to a transfer's socket parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcat::daemon::tftp::{negotiate, parse_reply, parse_request};

fuzz_target!(|data: &[u8]| {
    let _ = parse_reply(data);
    let Some(req) = parse_request(data) else { return };
    assert!(!req.file.is_empty());
    let size = data.len() * 1000;
    let g = negotiate(&req.options, size);
    assert!((8..=65464).contains(&g.blksize) && (1..=64).contains(&g.window));
    if let Some(oack) = g.oack {
        let fields: Vec<&[u8]> = oack[2..].split(|b| *b == 0).collect();
        let names: Vec<&[u8]> = fields.chunks(2).filter(|kv| kv.len() == 2).map(|kv| kv[0]).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[..i].contains(n), "option {:?} answered twice", String::from_utf8_lossy(n));
        }
    }
});
