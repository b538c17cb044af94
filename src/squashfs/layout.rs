//! The metadata side of the image: inode order and numbers, the id table, and the
//! inode and directory tables.

use std::collections::{BTreeSet, HashMap};

use super::SquashfsError;
use super::compress::Compressor;
use super::data::DataSection;
use super::directory::{Entry, write_listing};
use super::inode::{BLOCK_DEV, Body, CHAR_DEV, DIR, FIFO, Header, SOCKET, encode};
use super::metadata::{MetaRef, MetadataWriter};
use super::tree::{Kind, ROOT, Tree};
use super::xattr::XattrTable;

pub(crate) struct Metadata {
    pub inode_table: Vec<u8>,
    pub directory_table: Vec<u8>,
    pub root: MetaRef,
    pub inode_count: u32,
    /// Every uid and gid in use, sorted; inodes store indexes into it.
    pub ids: Vec<u32>,
    pub xattrs: XattrTable,
}

/// Every inode once, each directory after everything below it: a directory's listing
/// needs its children's inode positions, so they are written first. File data follows
/// the same order.
pub(crate) fn post_order(tree: &Tree) -> Vec<usize> {
    let mut order = Vec::with_capacity(tree.inodes.len());
    let mut placed = vec![false; tree.inodes.len()];
    let mut stack = vec![(ROOT, 0usize)];
    while let Some(&mut (dir, ref mut next)) = stack.last_mut() {
        let Kind::Dir(children) = &tree.inodes[dir].kind else {
            stack.pop();
            continue;
        };
        match children.get(*next) {
            Some(&(_, child)) => {
                *next += 1;
                if !std::mem::replace(&mut placed[child], true) {
                    if matches!(tree.inodes[child].kind, Kind::Dir(_)) {
                        stack.push((child, 0));
                    } else {
                        order.push(child);
                    }
                }
            }
            None => {
                order.push(dir);
                stack.pop();
            }
        }
    }
    order
}

pub(crate) fn write_metadata(
    tree: &Tree,
    order: &[usize],
    data: &DataSection,
    compressor: &mut Compressor,
) -> Result<Metadata, SquashfsError> {
    let count = u32::try_from(order.len())
        .ok()
        .filter(|&n| n < u32::MAX)
        .ok_or(SquashfsError::Limit("more than 2^32 - 2 inodes"))?;
    let ids: Vec<u32> = tree
        .inodes
        .iter()
        .flat_map(|inode| [inode.uid, inode.gid])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let id_index: HashMap<u32, u16> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| u16::try_from(index).map(|index| (*id, index)))
        .collect::<Result<_, _>>()
        .map_err(|_| SquashfsError::Limit("more than 65536 distinct owners"))?;

    let mut number = vec![0u32; tree.inodes.len()];
    for (position, &inode) in order.iter().enumerate() {
        number[inode] = position as u32 + 1;
    }
    // By convention the root's parent is one past the last inode.
    let mut parent = vec![count + 1; tree.inodes.len()];
    for &inode in order {
        if let Kind::Dir(children) = &tree.inodes[inode].kind {
            for &(_, child) in children {
                parent[child] = number[inode];
            }
        }
    }

    let mut inodes = MetadataWriter::default();
    let mut directories = MetadataWriter::default();
    let mut xattrs = XattrTable::default();
    let mut refs = vec![MetaRef::default(); tree.inodes.len()];
    let mut kinds = vec![0u16; tree.inodes.len()];
    let mut bytes = Vec::new();
    for &inode in order {
        let node = &tree.inodes[inode];
        let xattr = xattrs.intern(&node.xattrs, compressor)?;
        let header = Header {
            permissions: node.permissions,
            uid_index: id_index[&node.uid],
            gid_index: id_index[&node.gid],
            mtime: node.mtime,
            number: number[inode],
        };
        let nlink = node.nlink;
        let listing;
        let body = match &node.kind {
            Kind::Dir(children) => {
                let entries: Vec<Entry> = children
                    .iter()
                    .map(|(name, child)| Entry {
                        name,
                        inode: refs[*child],
                        number: number[*child],
                        kind: kinds[*child],
                    })
                    .collect();
                listing = write_listing(&entries, &mut directories, compressor)?;
                let subdirectories = entries.iter().filter(|entry| entry.kind == DIR).count();
                Body::Dir {
                    block: u32::try_from(listing.start.block)
                        .map_err(|_| SquashfsError::Limit("a directory table larger than 4 GiB"))?,
                    offset: listing.start.offset,
                    listing_size: listing.size,
                    nlink: 2 + subdirectories as u32,
                    parent: parent[inode],
                    index: &listing.index,
                }
            }
            Kind::File(source) => {
                let file = &data.files[inode];
                Body::File {
                    blocks_start: file.blocks_start,
                    size: source.size,
                    sparse: file.sparse,
                    nlink,
                    fragment: file.fragment,
                    blocks: &file.blocks,
                }
            }
            Kind::Symlink(target) => Body::Symlink { target, nlink },
            Kind::CharDevice(rdev) => Body::Device {
                kind: CHAR_DEV,
                rdev: *rdev,
                nlink,
            },
            Kind::BlockDevice(rdev) => Body::Device {
                kind: BLOCK_DEV,
                rdev: *rdev,
                nlink,
            },
            Kind::Fifo => Body::Ipc { kind: FIFO, nlink },
            Kind::Socket => Body::Ipc {
                kind: SOCKET,
                nlink,
            },
        };
        kinds[inode] = body.basic_type();
        refs[inode] = inodes.position();
        bytes.clear();
        encode(&header, &body, xattr, &mut bytes);
        inodes.write(&bytes, compressor)?;
    }
    Ok(Metadata {
        inode_table: inodes.finish(compressor)?,
        directory_table: directories.finish(compressor)?,
        root: refs[ROOT],
        inode_count: count,
        ids,
        xattrs,
    })
}
