//! A login into a cloud image that nobody gave a key: a key pair made for
//! this boot, and a NoCloud seed whose user-data creates the account and
//! authorizes the key, as a cloud platform would for a new instance. So
//! `livecompose test IMAGE --ssh` alone shows that an image lets its users
//! in.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image::VolumeFs;
use crate::seed::{SeedError, SeedSpec, write_seed};

/// The account made when `--ssh-user` names none: cloud images lock root.
pub const DEFAULT_GENERATED_USER: &str = "livecompose";

/// What [`generate_login`] made.
#[derive(Debug, Clone)]
pub struct GeneratedLogin {
    /// The private key.
    pub key: PathBuf,
    /// The seed to attach.
    pub seed: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CloudLoginError {
    #[error(
        "cannot run ssh-keygen to make a key for the login ({source}): install the Debian package openssh-client, or give --ssh-key"
    )]
    Keygen { source: std::io::Error },
    #[error("ssh-keygen failed: {0}")]
    KeygenFailed(String),
    #[error("cannot write the login's seed file {}: {source}", path.display())]
    UserData {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Seed(#[from] SeedError),
    #[error("--ssh-user {0:?} cannot be created by cloud-init: use a lower-case account name")]
    BadUser(String),
}

impl CloudLoginError {
    /// Whether `--ssh-user` is at fault, not the machine.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, CloudLoginError::BadUser(_))
    }
}

/// Makes, in `dir`, an Ed25519 key pair and a seed whose user-data creates
/// `user` with that key and password-less sudo.
pub fn generate_login(user: &str, dir: &Path) -> Result<GeneratedLogin, CloudLoginError> {
    let valid_user = !user.is_empty()
        && user != "root"
        && user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_user {
        return Err(CloudLoginError::BadUser(user.to_owned()));
    }
    let key = dir.join("login-key");
    let keygen = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "livecompose-test",
            "-f",
        ])
        .arg(&key)
        .output()
        .map_err(|source| CloudLoginError::Keygen { source })?;
    if !keygen.status.success() {
        return Err(CloudLoginError::KeygenFailed(
            String::from_utf8_lossy(&keygen.stderr).trim().to_owned(),
        ));
    }
    let public_key_path = key.with_extension("pub");
    let public_key =
        std::fs::read_to_string(&public_key_path).map_err(|source| CloudLoginError::UserData {
            path: public_key_path.clone(),
            source,
        })?;
    let user_data = dir.join("user-data");
    std::fs::write(&user_data, user_data_text(user, public_key.trim())).map_err(|source| {
        CloudLoginError::UserData {
            path: user_data.clone(),
            source,
        }
    })?;
    // A new instance id for each boot: cloud-init then treats an image
    // booted before (a committed child) as a new instance, creates the
    // account and takes the new key, as a cloud does for each instance.
    let meta_data = dir.join("meta-data");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let instance_id = format!(
        "instance-id: livecompose-test-{}-{nanos}\n",
        std::process::id()
    );
    std::fs::write(&meta_data, instance_id).map_err(|source| CloudLoginError::UserData {
        path: meta_data.clone(),
        source,
    })?;
    let seed = dir.join("seed.iso");
    write_seed(
        &SeedSpec {
            user_data,
            meta_data: Some(meta_data),
            network_config: None,
            vendor_data: None,
            hostname: None,
            fs: VolumeFs::Iso9660,
        },
        &seed,
    )?;
    Ok(GeneratedLogin { key, seed })
}

/// The cloud-config that lets `user` in with `public_key` and nothing else.
fn user_data_text(user: &str, public_key: &str) -> String {
    format!(
        "#cloud-config\n\
         users:\n\
         \x20 - name: {user}\n\
         \x20   lock_passwd: true\n\
         \x20   sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n\
         \x20   shell: /bin/sh\n\
         \x20   ssh_authorized_keys:\n\
         \x20     - \"{public_key}\"\n\
         ssh_pwauth: false\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_user_data_passes_the_cloud_config_schema() {
        let text = user_data_text("livecompose", "ssh-ed25519 AAAAC3Nza test");
        crate::seed::user_data::check("user-data", text.as_bytes()).unwrap();
    }

    #[test]
    fn accounts_cloud_init_cannot_make_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        for user in ["", "root", "Admin", "a b", "x;y"] {
            assert!(
                matches!(
                    generate_login(user, dir.path()),
                    Err(CloudLoginError::BadUser(_))
                ),
                "{user:?}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
