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

/// Writes one JSON Lines record.
pub fn json_line(out: &mut dyn Write, value: &serde_json::Value) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|e| Error::Io(format!("stdout: {e}")))?;
    out.write_all(b"\n").map_err(|e| Error::io("stdout", e))
}

/// Maps a write error on stdout to an [`Error`] (a broken pipe is handled by the caller).
pub fn io(e: std::io::Error) -> Error {
    Error::io("stdout", e)
}
