//! Discovery reports (`POST /discover`): the parser and checks oxcatd runs on the body a machine
//! posts, on arbitrary bytes. What it accepts must hold up: within the limits, and the same
//! report again once written out and read back (as discoverydata.otherdata keeps it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcat::discover::{Report, MAX_REPORT};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Report::parse(data) else { return };
    assert!(data.len() <= MAX_REPORT);
    r.check().expect("a parsed report passes its checks");
    let again = serde_json::to_vec(&r).expect("a report is JSON");
    assert_eq!(Report::parse(&again).expect("a written report parses"), r);
});
