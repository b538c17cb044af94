//! Disk images that boot with BIOS and UEFI, written straight into the
//! image file (no loop device, no mount), and the formats they are
//! converted to.

pub mod ext4;
pub mod gpt;
pub mod grub;
pub mod layout;
pub mod qcow2;
pub mod qcow2_read;
pub mod swap;

pub use gpt::{Gpt, GptError, GptPartition, Guid};
pub use layout::{
    DiskLayout, Format, FsType, LayoutError, LayoutSpec, Mount, PlacedPartition, Role,
};
