//! oxcat: bare-metal cluster management with xCAT's commands, tables and noderanges, in one
//! multicall binary over an embedded SQLite store.
//!
//! The library holds the domain (store, noderange, enrollment, images, output); `cmd` holds the thin
//! command modules and the registry that `main.rs` dispatches on.

pub mod boot;
pub mod cmd;
pub mod daemon;
pub mod defs;
pub mod deploy;
pub mod discover;
pub mod docs;
pub mod enroll;
pub mod error;
pub mod hosts;
pub mod hw;
pub mod image;
pub mod node;
pub mod noderange;
pub mod output;
pub mod postscript;
pub mod remote;
pub mod select;
pub mod store;
pub mod tables;
