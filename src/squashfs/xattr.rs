//! Extended attributes: each distinct set is stored once and inodes share its id.

use std::collections::HashMap;

use super::SquashfsError;
use super::compress::Compressor;
use super::inode::{put16, put32, put64};
use super::metadata::{MetadataWriter, lookup_table};

/// The namespaces the format can name, by their on-disk type number.
const PREFIXES: [(&[u8], u16); 3] = [(b"user.", 0), (b"trusted.", 1), (b"security.", 2)];

/// One attribute with its full name (`security.capability`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Xattr {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// Whether squashfs can store an attribute of this name: only the user, trusted and
/// security namespaces have a type number (so `system.posix_acl_*` cannot be kept).
pub(crate) fn storable(name: &[u8]) -> bool {
    split(name).is_some()
}

fn split(name: &[u8]) -> Option<(u16, &[u8])> {
    PREFIXES.iter().find_map(|(prefix, kind)| {
        name.strip_prefix(*prefix)
            .filter(|rest| !rest.is_empty())
            .map(|rest| (*kind, rest))
    })
}

/// Builds the key/value table and the id table, in the order sets are first seen.
#[derive(Default)]
pub(crate) struct XattrTable {
    ids: HashMap<Vec<Xattr>, u32>,
    pairs: MetadataWriter,
    id_entries: Vec<u8>,
}

impl XattrTable {
    /// The id of this (sorted) set, storing it if it is new; `None` for no attributes.
    pub(crate) fn intern(
        &mut self,
        set: &[Xattr],
        compressor: &mut Compressor,
    ) -> Result<Option<u32>, SquashfsError> {
        if set.is_empty() {
            return Ok(None);
        }
        if let Some(id) = self.ids.get(set) {
            return Ok(Some(*id));
        }
        let id = u32::try_from(self.ids.len())
            .map_err(|_| SquashfsError::Limit("more than 2^32 xattr sets"))?;
        let at = self.pairs.position();
        let mut bytes = Vec::new();
        for xattr in set {
            let (kind, short) = split(&xattr.name).ok_or(SquashfsError::Limit(
                "an xattr outside user/trusted/security",
            ))?;
            let short_len = u16::try_from(short.len())
                .map_err(|_| SquashfsError::Limit("an xattr name over 64 KiB"))?;
            let value_len = u32::try_from(xattr.value.len())
                .map_err(|_| SquashfsError::Limit("an xattr value over 4 GiB"))?;
            put16(&mut bytes, kind);
            put16(&mut bytes, short_len);
            bytes.extend_from_slice(short);
            put32(&mut bytes, value_len);
            bytes.extend_from_slice(&xattr.value);
        }
        self.pairs.write(&bytes, compressor)?;
        put64(&mut self.id_entries, at.packed());
        put32(&mut self.id_entries, set.len() as u32);
        put32(&mut self.id_entries, bytes.len() as u32);
        self.ids.insert(set.to_vec(), id);
        Ok(Some(id))
    }

    pub(crate) fn sets(&self) -> usize {
        self.ids.len()
    }

    /// Appends the tables to `tail` (at image offset `base`) and returns the position the
    /// superblock records, or `None` when no inode has attributes.
    pub(crate) fn append(
        self,
        tail: &mut Vec<u8>,
        base: u64,
        compressor: &mut Compressor,
    ) -> Result<Option<u64>, SquashfsError> {
        if self.ids.is_empty() {
            return Ok(None);
        }
        let pairs_start = base + tail.len() as u64;
        tail.extend(self.pairs.finish(compressor)?);
        // The id table's pointer list is preceded by where the pairs start and how many ids exist.
        let ids = lookup_table(&self.id_entries, base + tail.len() as u64, compressor)?;
        tail.extend(ids.blocks);
        let header_start = base + tail.len() as u64;
        put64(tail, pairs_start);
        put32(tail, self.ids.len() as u32);
        put32(tail, 0);
        tail.extend(ids.pointers);
        Ok(Some(header_start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::squashfs::options::{Compression, SquashfsOptions};

    fn xattr(name: &str, value: &[u8]) -> Xattr {
        Xattr {
            name: name.as_bytes().to_vec(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn only_three_namespaces_are_storable() {
        assert!(storable(b"user.comment"));
        assert!(storable(b"security.capability"));
        assert!(storable(b"trusted.overlay.opaque"));
        assert!(!storable(b"system.posix_acl_access"));
        assert!(!storable(b"user."));
    }

    #[test]
    fn equal_sets_share_an_id_and_the_table_is_laid_out() {
        let mut compressor = Compressor::new(&SquashfsOptions {
            compression: Compression::Gzip { level: 9 },
            ..SquashfsOptions::default()
        })
        .expect("gzip");
        let mut table = XattrTable::default();
        let caps = [xattr("security.capability", &[1, 0, 0, 2])];
        let user = [xattr("user.a", b"1"), xattr("user.b", b"2")];
        assert_eq!(table.intern(&[], &mut compressor).expect("intern"), None);
        assert_eq!(
            table.intern(&caps, &mut compressor).expect("intern"),
            Some(0)
        );
        assert_eq!(
            table.intern(&user, &mut compressor).expect("intern"),
            Some(1)
        );
        assert_eq!(
            table.intern(&caps, &mut compressor).expect("intern"),
            Some(0)
        );
        let mut tail = vec![0; 10];
        let start = table
            .append(&mut tail, 500, &mut compressor)
            .expect("append")
            .expect("present");
        let header = usize::try_from(start - 500).expect("small");
        assert_eq!(
            u64::from_le_bytes(tail[header..header + 8].try_into().expect("8")),
            510
        );
        assert_eq!(
            u32::from_le_bytes(tail[header + 8..header + 12].try_into().expect("4")),
            2
        );
        assert_eq!(tail.len(), header + 16 + 8);
    }
}
