//! Acting on running nodes over SSH (xdsh, xdcp, updatenode, nodestat): the cluster's key pair,
//! the host keys nodes report at boot, and the in-process SSH sessions (russh on one tokio
//! thread: one task per node, no `ssh` process per node).

pub mod hostkeys;
pub mod keys;
pub mod probe;
pub mod scp;
pub mod session;
pub mod targets;
pub mod updatenode;
