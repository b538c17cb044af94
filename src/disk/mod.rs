//! Disk images (raw, later qcow2) that boot with BIOS and UEFI, written
//! straight into the image file: no loop device, no mount.

pub mod gpt;
pub mod layout;

pub use gpt::{Gpt, GptError, GptPartition, Guid};
pub use layout::{
    DiskLayout, Format, FsType, LayoutError, LayoutSpec, Mount, PlacedPartition, Role,
};
