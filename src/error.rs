//! The library's error type and its mapping to exit status: 2 for usage and input errors (the
//! command was told something wrong and changed nothing), 1 for everything else.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// Wrong arguments.
    Usage(String),
    /// Bad input data (a malformed MAC, an unknown node, a duplicate name): nothing was changed.
    Input(String),
    /// Several input errors found in one pass, each one line (node, field, what is allowed).
    Inputs(Vec<String>),
    /// The store could not be opened or written.
    Store(String),
    /// A file could not be read or written.
    Io(String),
    /// Stdout was closed by its reader (`lsdef | head`): not an error, exit 0 quietly.
    BrokenPipe,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Input(_) | Error::Inputs(_) => 2,
            Error::Store(_) | Error::Io(_) => 1,
            Error::BrokenPipe => 0,
        }
    }

    /// The lines to print on stderr (`Error: ...`; per-node lines are `node: Error: ...`).
    pub fn lines(&self) -> Vec<String> {
        match self {
            Error::Inputs(v) => v.clone(),
            Error::Usage(m) | Error::Input(m) | Error::Store(m) | Error::Io(m) => vec![format!("Error: {m}")],
            Error::BrokenPipe => vec![],
        }
    }

    /// Input bytes as text: values are stored as UTF-8, so other bytes are refused (naming the
    /// line) rather than stored as replacement characters.
    pub fn text(what: impl fmt::Display, bytes: Vec<u8>) -> Result<String> {
        String::from_utf8(bytes).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            Error::Input(format!("{what}: line {line} is not UTF-8 text (convert it first, e.g. with iconv -t UTF-8)"))
        })
    }

    pub fn io(what: impl fmt::Display, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Error::BrokenPipe;
        }
        Error::Io(format!("{what}: {e}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Store(format!("store: {e}"))
    }
}

impl From<crate::noderange::NoderangeError> for Error {
    fn from(e: crate::noderange::NoderangeError) -> Error {
        Error::Input(e.to_string())
    }
}
