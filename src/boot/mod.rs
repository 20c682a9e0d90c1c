//! Network boot: `nodeset` renders each node's pxelinux, iPXE and GRUB config from templates.

pub mod mknb;
pub mod nodeset;
pub mod render;
pub mod servers;
