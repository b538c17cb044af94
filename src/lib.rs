//! livecompose: kickstart in, bootable image out.
//!
//! The crate is laid out as the pipeline runs; each stage is a module with a
//! small typed interface, and data flows one way through them.

pub mod audit;
pub mod boottest;
pub mod checksum;
pub mod chroot;
pub mod cli;
pub mod compression;
pub mod configure;
pub mod derive;
pub mod derived_uuid;
pub mod disk;
pub mod distro;
pub mod executable;
pub mod fetch;
pub mod image;
pub mod initrd;
pub mod install;
pub mod interrupt;
pub mod kickstart;
pub mod mirror;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod repo;
pub mod resolve;
pub mod sandbox;
pub mod sbom;
pub mod seed;
pub mod sign;
pub mod source_date;
pub mod squashfs;
pub mod verify;
