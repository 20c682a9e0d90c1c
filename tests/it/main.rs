//! Integration tests: the real `oxcat` binary, run through links named after each command.

mod bmcsim;
mod concurrency;
mod defs;
mod dhcp;
mod diskimage;
mod docs;
mod enroll;
mod flags;
mod genesis;
mod hardware;
mod harness;
mod images;
mod makehosts;
mod mknb;
mod multicall;
mod netboot;
mod nodels;
mod noderange;
mod nodeset;
mod oxcatd;
mod rinstall;
mod safety;
mod servers;
mod store;
mod tables;
mod tftp;
