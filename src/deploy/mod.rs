//! Disk deploys: oxcatd gives a node booted into genesis (the node ramdisk) a plan, and the node
//! agent (`oxcat nodeagent`, the same binary) writes the disk image it names to the node's disk,
//! verified, with a cloud-init seed, reporting its progress to oxcatd as it goes.
//!
//! The protocol, both ends of which live here:
//! - `GET /deploy/plan?node=N&token=T` (JSON [`Plan`]): only to the node's own address, only while
//!   the node's state is `install IMAGE` of a disk image and its token is not spent.
//! - `POST /status?node=N&token=T&status=S`: S is `installing N%`, `installed` or
//!   `failed: REASON`; with `installed` and `failed: ...` the body is the tail of the agent's log,
//!   kept in nodelist.deploylog.

pub mod plan;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a node's agent needs to deploy it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub node: String,
    pub image: DiskImage,
    /// Root device hints (the rootdevice attribute's syntax); empty: the default choice.
    #[serde(default)]
    pub rootdevice: String,
    pub seed: Seed,
}

/// The whole-disk image to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskImage {
    pub name: String,
    /// Where to fetch it (HTTP, Range requests honoured).
    pub url: String,
    /// Compression of what the URL serves: raw, gz, zst or xz.
    pub format: String,
    /// SHA-256 (hex) and size in bytes of the uncompressed image.
    pub sha256: String,
    pub size: u64,
}

/// The cloud-init NoCloud seed: files written to a FAT partition labelled CIDATA (meta-data,
/// user-data, network-config, and oxcat-firstboot.sh for images without cloud-init).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed {
    pub files: BTreeMap<String, String>,
}

pub mod agent;
pub mod disks;
pub mod gpt;
pub mod hints;
pub mod seed;
pub mod stream;
