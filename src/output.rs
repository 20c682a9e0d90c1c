//! Output shared by the commands: secret masking and JSON Lines records.

use crate::error::{Error, Result};
use std::io::Write;

/// What a secret prints as unless `--show-secrets`.
pub const MASK: &str = "********";

pub fn shown(value: &str, secret: bool, show_secrets: bool) -> &str {
    if secret && !show_secrets {
        MASK
    } else {
        value
    }
}

/// Writes one JSON Lines record. A write error is an I/O error like the text modes' (so a
/// reader that stops early, `| head -1`, ends the command quietly as for them).
pub fn json_line(out: &mut dyn Write, value: &serde_json::Value) -> Result<()> {
    let mut line = value.to_string().into_bytes();
    line.push(b'\n');
    out.write_all(&line).map_err(io)
}

/// Maps a write error on stdout to an [`Error`] (a broken pipe is handled by the caller).
pub fn io(e: std::io::Error) -> Error {
    Error::io("stdout", e)
}

/// A table for people (comfy-table): a header row, then the rows. On a terminal it wraps to the
/// terminal's width; in a pipe it keeps full width.
pub fn table(header: Vec<String>, rows: Vec<Vec<String>>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(header)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}
