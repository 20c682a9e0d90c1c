//! RMCP+ replies: every parser that reads what a BMC sends, on arbitrary bytes: the packet
//! framing (plain, and authenticated with a valid AuthCode, so that decryption and the IPMI
//! message behind it are reached too), the Open Session and RAKP 2/4 payloads, the IPMI response
//! message, Get Channel Authentication Capabilities, and FRU data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcat::hw::ipmi::crypto::{self, Keys, Suite};
use oxcat::hw::ipmi::{fru, session};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let suite = if pick & 1 == 0 { Suite::from_number(17) } else { Suite::from_number(3) }.expect("suite");
    let keys = Keys { sik: vec![1; 32], k1: vec![2; 32], k2: vec![3; 32] };
    let want = (pick >> 1) & 0x3f;
    let _ = session::channel_auth_reply(rest);
    for p in [session::open_packet(rest, want, None), Some(rest.to_vec())].into_iter().flatten() {
        let _ = session::open_session_reply(&p, 0x0102_0304, suite);
        let _ = session::rakp2_reply(&p, suite);
        let _ = session::rakp4_reply(&p, &[9; 12]);
        let _ = session::ipmi_reply(&p, pick & 0x3f, pick >> 2, pick);
    }
    // The same bytes as an authenticated packet that passes its integrity check.
    if rest.len() > 4 {
        let mut sealed = rest.to_vec();
        sealed.extend(crypto::packet_auth(suite, &keys.k1, &rest[4..]));
        if let Some(p) = session::open_packet(&sealed, want, Some((suite, &keys))) {
            let _ = session::ipmi_reply(&p, pick & 0x3f, pick >> 2, pick);
        }
    }
    let _ = crypto::decrypt(&keys.k2, rest);
    let _ = fru::parse(rest);
});
