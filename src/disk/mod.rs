//! Disk images: the raw disk and the formats it is converted to.

pub mod qcow2;
