//! Metalinks, as Fedora's mirror manager serves them: the mirrors of one
//! repository's `repodata/repomd.xml`, and the digests that file must have.
//!
//! Fedora does not sign `repomd.xml`; what vouches for it is the metalink,
//! fetched over HTTPS from the project, which lists the current file's
//! digest and those of a few recent ones (`<mm0:alternates>`, for mirrors
//! that lag a push behind). A mirror whose `repomd.xml` matches none of
//! them is stale or tampered with, and its files are not used.

use std::io::BufRead;

use super::xml::{Element, XmlError, XmlStream};
use crate::checksum::{Checksum, ChecksumKind};

/// What a metalink says about `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metalink {
    /// The digests an acceptable `repomd.xml` may have: the current one
    /// first, then the alternates.
    pub digests: Vec<Checksum>,
    /// Base URLs of the mirrors (each ends in `/`, without
    /// `repodata/repomd.xml`), most preferred first.
    pub mirrors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetalinkError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("it lists no file named repomd.xml")]
    NoRepomd,
    #[error(
        "it gives no SHA-256 or SHA-512 digest of repomd.xml, so nothing could tell a forged repomd.xml from the real one"
    )]
    NoDigest,
    #[error("<hash type={kind:?}> is not a valid digest: {value:?}")]
    BadDigest { kind: String, value: String },
}

impl Metalink {
    pub fn parse(input: impl BufRead) -> Result<Metalink, MetalinkError> {
        let mut stream = XmlStream::open(input, "metalink")?;
        let mut repomd = None;
        while let Some(child) = stream.next_child()? {
            if child.name == "files" {
                repomd = child
                    .children_named("file")
                    .find(|file| file.attr("name") == Some("repomd.xml"))
                    .cloned()
                    .or(repomd);
            }
        }
        let file = repomd.ok_or(MetalinkError::NoRepomd)?;
        let mut digests = Vec::new();
        if let Some(digest) = strongest_digest(&file)? {
            digests.push(digest);
        }
        for alternate in file
            .children_named("alternates")
            .flat_map(|alternates| alternates.children_named("alternate"))
        {
            if let Some(digest) = strongest_digest(alternate)? {
                digests.push(digest);
            }
        }
        if digests.is_empty() {
            return Err(MetalinkError::NoDigest);
        }
        Ok(Metalink {
            digests,
            mirrors: mirrors(&file),
        })
    }

    /// Whether `repomd` is one of the files the metalink vouches for.
    pub fn vouches_for(&self, repomd: &[u8]) -> bool {
        self.digests.iter().any(|digest| {
            digest
                .kind
                .digest(repomd)
                .is_ok_and(|actual| actual == *digest)
        })
    }
}

/// The SHA-512 of an entry's `<verification>`, else its SHA-256. MD5 and
/// SHA-1 are listed too, and ignored: they no longer vouch for anything.
fn strongest_digest(entry: &Element) -> Result<Option<Checksum>, MetalinkError> {
    let hashes: Vec<&Element> = entry
        .children_named("verification")
        .flat_map(|verification| verification.children_named("hash"))
        .collect();
    for kind in [ChecksumKind::Sha512, ChecksumKind::Sha256] {
        if let Some(hash) = hashes
            .iter()
            .find(|hash| hash.attr("type") == Some(kind.name()))
        {
            let value = hash.text.trim();
            return Checksum::new(kind.name(), value).map(Some).map_err(|_| {
                MetalinkError::BadDigest {
                    kind: kind.name().to_owned(),
                    value: value.to_owned(),
                }
            });
        }
    }
    Ok(None)
}

/// The `<url>`s ending in `repodata/repomd.xml`, as base URLs, by falling
/// `preference` (100 is best; the order of the document breaks ties).
fn mirrors(file: &Element) -> Vec<String> {
    let mut urls: Vec<(u32, String)> = file
        .children_named("resources")
        .flat_map(|resources| resources.children_named("url"))
        .filter_map(|url| {
            let base = url.text.trim().strip_suffix("repodata/repomd.xml")?;
            let preference = url
                .attr("preference")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            Some((preference, base.to_owned()))
        })
        .collect();
    urls.sort_by_key(|(preference, _)| std::cmp::Reverse(*preference));
    urls.into_iter().map(|(_, base)| base).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPOMD: &[u8] = b"<repomd/>\n";

    fn sha256(data: &[u8]) -> String {
        crate::fetch::sha256_hex(data)
    }

    fn metalink(hashes: &str, alternates: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1700000000</mm0:timestamp>
   <size>10</size>
   <verification>{hashes}</verification>
   <mm0:alternates>{alternates}</mm0:alternates>
   <resources maxconnections="1">
    <url protocol="https" type="https" location="DE" preference="99">https://b.invalid/os/repodata/repomd.xml</url>
    <url protocol="http" type="http" location="US" preference="100">http://a.invalid/os/repodata/repomd.xml</url>
    <url protocol="rsync" type="rsync" location="US" preference="98">rsync://c.invalid/os/</url>
   </resources>
  </file>
 </files>
</metalink>"#
        )
    }

    #[test]
    fn mirrors_come_by_preference_and_the_digest_is_checked() {
        let text = metalink(
            &format!(
                r#"<hash type="md5">00000000000000000000000000000000</hash><hash type="sha256">{}</hash>"#,
                sha256(REPOMD)
            ),
            "",
        );
        let link = Metalink::parse(text.as_bytes()).unwrap();
        assert_eq!(
            link.mirrors,
            ["http://a.invalid/os/", "https://b.invalid/os/"]
        );
        assert!(link.vouches_for(REPOMD));
        assert!(!link.vouches_for(b"<repomd>forged</repomd>\n"));
    }

    #[test]
    fn an_alternate_vouches_for_a_mirror_one_push_behind() {
        let current = format!(r#"<hash type="sha256">{}</hash>"#, sha256(b"newer"));
        let alternate = format!(
            r#"<mm0:alternate><mm0:timestamp>1</mm0:timestamp><size>10</size><verification><hash type="sha256">{}</hash></verification></mm0:alternate>"#,
            sha256(REPOMD)
        );
        let link = Metalink::parse(metalink(&current, &alternate).as_bytes()).unwrap();
        assert_eq!(link.digests.len(), 2);
        assert!(link.vouches_for(REPOMD));
        assert!(link.vouches_for(b"newer"));
    }

    #[test]
    fn weak_or_missing_digests_vouch_for_nothing() {
        let weak = metalink(
            r#"<hash type="md5">00000000000000000000000000000000</hash><hash type="sha1">0000000000000000000000000000000000000000</hash>"#,
            "",
        );
        assert!(matches!(
            Metalink::parse(weak.as_bytes()),
            Err(MetalinkError::NoDigest)
        ));
        let bad = metalink(r#"<hash type="sha256">zz</hash>"#, "");
        assert!(matches!(
            Metalink::parse(bad.as_bytes()),
            Err(MetalinkError::BadDigest { .. })
        ));
        let other = "<metalink><files><file name=\"other.xml\"/></files></metalink>";
        assert!(matches!(
            Metalink::parse(other.as_bytes()),
            Err(MetalinkError::NoRepomd)
        ));
        assert!(Metalink::parse(&b"<metalink><files>"[..]).is_err());
    }
}
