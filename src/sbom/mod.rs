//! The software bill of materials written beside every output, in the two
//! formats publishers are asked for: SPDX 2.3 (`LABEL.spdx.json`) and
//! CycloneDX 1.6 (`LABEL.cdx.json`). Both say the same: the image as the
//! root element, one package per installed package (name, version with
//! its epoch, architecture, repository, purl, declared license, and the
//! digest of the package file as the repository's index gave it), and what
//! the build read: the flattened kickstart's SHA-256, each repository's
//! signed index (`InRelease` or `repomd.xml`) and its SHA-256, and
//! livecompose's version.
//!
//! Nothing in them varies between two builds of the same inputs: the time
//! is the build's source date, and the document's identity (SPDX namespace,
//! CycloneDX serial number) is derived from the inputs' digests.

mod cyclonedx;
pub mod license;
mod spdx;

use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::checksum::{Checksum, ChecksumKind};
use crate::distro::{Distro, Resolution};
use crate::install::RootFs;
use crate::plan::BuildPlan;
use crate::source_date::SourceDate;

pub use license::Expression;

/// What the distribution back end knows of the build's sources and
/// packages, for the SBOM (see [`crate::distro::Distro::inventory`]).
#[derive(Debug, Clone)]
pub struct Inventory {
    pub repositories: Vec<SourceRepository>,
    /// One per package of the resolution, in its order.
    pub packages: Vec<PackageFacts>,
}

/// A repository as the build read it.
#[derive(Debug, Clone)]
pub struct SourceRepository {
    /// The kickstart's name for it.
    pub name: String,
    pub url: String,
    /// The signed index the build trusted: `InRelease`, `Release` or
    /// `repomd.xml`.
    pub index: &'static str,
    /// The SHA-256 of that index, as downloaded.
    pub index_sha256: String,
    /// The date the index gives, in seconds since the epoch.
    pub date: Option<i64>,
}

/// What only the distribution knows of one package.
#[derive(Debug, Clone)]
pub struct PackageFacts {
    pub purl: String,
    /// The license the package declares, if it declares one.
    pub license: Option<Expression>,
}

/// One installed package, as both documents list it.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The kickstart name of the repository it came from.
    pub repository: String,
    /// Where it was downloaded from.
    pub url: String,
    pub checksum: Checksum,
    pub facts: PackageFacts,
}

/// Everything one SBOM says.
#[derive(Debug, Clone)]
pub struct Bom {
    /// The image's label: the root element's name.
    pub label: String,
    /// The `--format`, as the root element's description says it.
    pub format: String,
    /// The flattened kickstart's SHA-256.
    pub kickstart_sha256: String,
    pub tool_version: String,
    /// The document's time, in seconds since the epoch.
    pub created: i64,
    pub repositories: Vec<SourceRepository>,
    pub components: Vec<Component>,
}

impl Bom {
    /// The SBOM of a build: `plan`'s kickstart and label, the repositories
    /// as `distro` read them, the packages of `resolution`, and what the
    /// configured `root` says of them (where Debian keeps licenses), made
    /// at the build's time `created`.
    pub fn of_build(
        plan: &BuildPlan,
        distro: &dyn Distro,
        resolution: &Resolution,
        root: &Path,
        created: &SourceDate,
    ) -> anyhow::Result<Bom> {
        let root = RootFs::open(root)?;
        let inventory = distro.inventory(resolution, &root)?;
        let created = created.seconds;
        let components = resolution
            .packages
            .iter()
            .zip(inventory.packages)
            .map(|(package, facts)| Component {
                name: package.name.clone(),
                version: package.version.clone(),
                architecture: package.architecture.clone(),
                repository: package.repository.clone(),
                url: package.url.clone(),
                checksum: package.expected.checksum.clone(),
                facts,
            })
            .collect();
        Ok(Bom {
            label: plan.label.clone(),
            format: plan.output.name().to_owned(),
            kickstart_sha256: crate::fetch::sha256_hex(plan.kickstart.render().as_bytes()),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created,
            repositories: inventory.repositories,
            components,
        })
    }

    /// The SPDX 2.3 JSON document.
    pub fn spdx_json(&self) -> Vec<u8> {
        pretty(&spdx::document(self))
    }

    /// The CycloneDX 1.6 JSON document.
    pub fn cyclonedx_json(&self) -> Vec<u8> {
        pretty(&cyclonedx::document(self))
    }

    /// A UUID that names this bill of materials: the same inputs give the
    /// same one, any other input another (RFC 9562's version 8, made from
    /// a SHA-256 of the inputs).
    fn uuid(&self) -> String {
        let mut hasher = Sha256::new();
        let mut field = |value: &str| {
            // Length-prefixed, so that no two field lists hash alike.
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value.as_bytes());
        };
        field(&self.label);
        field(&self.format);
        field(&self.kickstart_sha256);
        field(&self.tool_version);
        field(&self.created.to_string());
        for repository in &self.repositories {
            field(&repository.name);
            field(&repository.url);
            field(&repository.index_sha256);
        }
        for component in &self.components {
            field(&component.name);
            field(&component.version);
            field(&component.architecture);
            field(component.checksum.value());
        }
        crate::derived_uuid::from_digest(&hasher.finalize())
    }

    /// Every `LicenseRef-` the packages use, once each, with the name a
    /// package declared.
    fn license_refs(&self) -> Vec<(String, String)> {
        let mut refs: Vec<(String, String)> = Vec::new();
        for (id, name) in self
            .components
            .iter()
            .filter_map(|c| c.facts.license.as_ref())
            .flat_map(|license| &license.refs)
        {
            if refs.iter().all(|(known, _)| known != id) {
                refs.push((id.clone(), name.clone()));
            }
        }
        refs.sort();
        refs
    }
}

/// The algorithm's name in SPDX (`SHA256`) and CycloneDX (`SHA-256`).
fn algorithm_names(kind: ChecksumKind) -> (&'static str, &'static str) {
    match kind {
        ChecksumKind::Sha224 => ("SHA224", "SHA-224"),
        ChecksumKind::Sha256 => ("SHA256", "SHA-256"),
        ChecksumKind::Sha384 => ("SHA384", "SHA-384"),
        ChecksumKind::Sha512 => ("SHA512", "SHA-512"),
    }
}

fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A purl's version or qualifier value: percent-encoded but for the
/// characters the purl specification leaves as they are.
pub fn purl_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn bom() -> Bom {
        Bom {
            label: "Test".into(),
            format: "iso".into(),
            kickstart_sha256: "0".repeat(64),
            tool_version: "0.1.0".into(),
            created: 1_686_388_211,
            repositories: vec![SourceRepository {
                name: "main".into(),
                url: "http://127.0.0.1/debian".into(),
                index: "InRelease",
                index_sha256: "1".repeat(64),
                date: Some(1_686_388_211),
            }],
            components: vec![Component {
                name: "bash".into(),
                version: "5.2.15-2+b2".into(),
                architecture: "amd64".into(),
                repository: "main".into(),
                url: "http://127.0.0.1/debian/pool/b/bash.deb".into(),
                checksum: Checksum::new("sha256", &"2".repeat(64)).unwrap(),
                facts: PackageFacts {
                    purl: "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12".into(),
                    license: license::to_spdx("GPL-3.0-or-later and odd", &|_| None),
                },
            }],
        }
    }

    #[test]
    fn the_identity_follows_the_inputs_only() {
        let a = bom();
        assert_eq!(a.uuid(), bom().uuid());
        assert_eq!(a.spdx_json(), bom().spdx_json());
        assert_eq!(a.cyclonedx_json(), bom().cyclonedx_json());
        let mut b = bom();
        b.components[0].version = "5.2.15-3".into();
        assert_ne!(a.uuid(), b.uuid());
        let uuid = a.uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "8");
    }

    #[test]
    fn purl_values_are_encoded_as_the_specification_says() {
        assert_eq!(purl_encode("1:2.3+dfsg-1~b1"), "1:2.3%2Bdfsg-1~b1");
        assert_eq!(purl_encode("a b/c"), "a%20b%2Fc");
    }
}
