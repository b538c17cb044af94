//! NoCloud seeds: the small volume cloud-init's NoCloud datasource reads
//! its configuration from, as `cloud-localds` writes it.
//!
//! The volume is labelled `cidata` (ISO 9660 or FAT) and holds, in its
//! root, `user-data`, `meta-data` and optionally `network-config` and
//! `vendor-data`. Without a meta-data file, one is made with the
//! `instance-id` cloud-init needs (and `local-hostname` if asked), in the
//! same bytes `cloud-localds` writes. The user-data is checked first
//! ([`user_data`]); nothing is written when it is wrong.

pub mod user_data;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::image::{self, ImageError, VolumeFs, VolumeSpec};

pub use user_data::{UserDataError, UserDataKind};

/// The label cloud-init's NoCloud datasource looks for.
pub const SEED_LABEL: &str = "cidata";
/// The instance id of a generated meta-data, as `cloud-localds` uses.
pub const DEFAULT_INSTANCE_ID: &str = "iid-local01";

/// What goes on a seed.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub user_data: PathBuf,
    /// Copied as it is; without it, one is generated.
    pub meta_data: Option<PathBuf>,
    pub network_config: Option<PathBuf>,
    pub vendor_data: Option<PathBuf>,
    /// `local-hostname` of the generated meta-data.
    pub hostname: Option<String>,
    pub fs: VolumeFs,
}

/// A written seed.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub size: u64,
    pub kind: UserDataKind,
    /// The names of the files on it, in the order written.
    pub files: Vec<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    UserData(#[from] UserDataError),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{hostname:?} is not a host name (labels of letters, digits and '-', \
         separated by dots, at most 63 characters each and 253 in all)"
    )]
    Hostname { hostname: String },
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl SeedError {
    /// Whether the inputs are at fault (not livecompose or the system).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::UserData(error) => error.is_bad_input(),
            Self::Read { .. } | Self::Hostname { .. } => true,
            Self::Image(_) => false,
        }
    }
}

/// Checks the inputs and writes the seed to `output` (through a temporary
/// file, so `output` is never half written).
pub fn write_seed(spec: &SeedSpec, output: &Path) -> Result<SeedReport, SeedError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| SeedError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let user_data = read(&spec.user_data)?;
    let kind = user_data::check(&spec.user_data.display().to_string(), &user_data)?;
    let meta_data = match &spec.meta_data {
        Some(path) => read(path)?,
        None => default_meta_data(spec.hostname.as_deref())?,
    };
    let mut files = vec![("user-data", user_data), ("meta-data", meta_data)];
    if let Some(path) = &spec.network_config {
        files.push(("network-config", read(path)?));
    }
    if let Some(path) = &spec.vendor_data {
        files.push(("vendor-data", read(path)?));
    }
    let names = files.iter().map(|(name, _)| *name).collect();
    let volume = VolumeSpec {
        label: SEED_LABEL.to_owned(),
        fs: spec.fs,
        files: files
            .into_iter()
            .map(|(name, bytes)| (name.to_owned(), bytes))
            .collect(),
        // SOURCE_DATE_EPOCH, else the user-data's modification time: the
        // same inputs give the same seed.
        time: image::image_time(&spec.user_data)?,
    };
    let size = image::write_volume(&volume, output)?;
    Ok(SeedReport {
        size,
        kind,
        files: names,
    })
}

/// The meta-data `cloud-localds` writes: JSON (which YAML reads), one key
/// a line.
fn default_meta_data(hostname: Option<&str>) -> Result<Vec<u8>, SeedError> {
    let mut entries = vec![("instance-id", DEFAULT_INSTANCE_ID)];
    if let Some(name) = hostname {
        if !is_hostname(name) {
            return Err(SeedError::Hostname {
                hostname: name.to_owned(),
            });
        }
        entries.push(("local-hostname", name));
    }
    let lines: Vec<String> = entries
        .iter()
        .map(|(key, value)| format!("{}: {}", Value::from(*key), Value::from(*value)))
        .collect();
    Ok(format!("{{\n{}\n}}\n", lines.join(",\n")).into_bytes())
}

/// RFC 1123 host names: dot-separated labels of letters, digits and `-`.
fn is_hostname(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_meta_data_is_what_cloud_localds_writes() {
        assert_eq!(
            default_meta_data(None).unwrap(),
            b"{\n\"instance-id\": \"iid-local01\"\n}\n"
        );
        assert_eq!(
            default_meta_data(Some("web-1.example")).unwrap(),
            b"{\n\"instance-id\": \"iid-local01\",\n\"local-hostname\": \"web-1.example\"\n}\n"
        );
    }

    #[test]
    fn host_names_are_checked() {
        for good in ["web", "web-1.example.org", "a1"] {
            assert!(is_hostname(good), "{good}");
        }
        for bad in ["", "-web", "web-", "we b", "a..b", "x\"y", &"a".repeat(64)] {
            assert!(!is_hostname(bad), "{bad}");
        }
    }
}
