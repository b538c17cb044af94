//! SHA-512 crypt (`$6$`), the password hash Debian's `/etc/shadow` uses.

use sha_crypt::{Sha512Params, sha512_crypt_b64};
use sha2::{Digest as _, Sha256};

use super::ConfigureError;

/// The characters crypt(3) allows in a salt; 64 of them, so a digest byte
/// modulo 64 picks each with the same chance.
const SALT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The longest salt SHA-crypt uses; longer ones are cut to this.
const SALT_LEN: usize = 16;

/// `$6$SALT$HASH` for `password`, with the default 5000 rounds (which the
/// format then leaves unsaid, as glibc and `openssl passwd -6` do).
fn sha512_crypt(password: &str, salt: &str) -> Result<String, ConfigureError> {
    let hash = sha512_crypt_b64(
        password.as_bytes(),
        salt.as_bytes(),
        &Sha512Params::default(),
    )
    .map_err(|error| ConfigureError::invalid("password", format!("cannot hash it: {error:?}")))?;
    Ok(format!("$6${salt}${hash}"))
}

/// A SHA-512 crypt hash of `password` for account `name`, its salt
/// derived from the account and the build's time (`source_date`), never
/// from the password: the same build gives the same `/etc/shadow`, and the
/// salt, which is public, tells nothing about the password. A new archive
/// state gives a new time and so new salts.
pub(super) fn hash_password(
    password: &str,
    name: &str,
    source_date: i64,
) -> Result<String, ConfigureError> {
    sha512_crypt(password, &derived_salt(name, source_date))
}

fn derived_salt(name: &str, source_date: i64) -> String {
    let digest = Sha256::new()
        .chain_update(b"livecompose password salt\0")
        .chain_update(source_date.to_le_bytes())
        .chain_update(name)
        .finalize();
    digest[..SALT_LEN]
        .iter()
        .map(|byte| char::from(SALT_ALPHABET[usize::from(byte % 64)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The host's `openssl passwd -6`, an independent implementation.
    fn openssl(password: &str, salt: &str) -> String {
        let output = Command::new("openssl")
            .args(["passwd", "-6", "-salt", salt, "--", password])
            .output()
            .unwrap_or_else(|error| {
                panic!("this test compares with `openssl passwd -6`: install openssl (apt-get install openssl): {error}")
            });
        assert!(output.status.success(), "openssl passwd failed: {output:?}");
        String::from_utf8(output.stdout)
            .expect("openssl prints ASCII")
            .trim_end()
            .to_owned()
    }

    #[test]
    fn matches_openssl() {
        for (password, salt) in [
            ("hunter2", "saltsalt"),
            ("correct horse battery staple", "0123456789abcdef"),
            ("pässwörd ✓", "./AZaz09"),
            ("a", "x"),
            (&"long".repeat(40), "Qm7/abc"),
        ] {
            assert_eq!(
                sha512_crypt(password, salt).expect("hash"),
                openssl(password, salt),
                "{password:?} with salt {salt:?}"
            );
        }
    }

    #[test]
    fn matches_the_specification_vector() {
        // From the SHA-crypt specification's test vectors.
        assert_eq!(
            sha512_crypt("Hello world!", "saltstring").expect("hash"),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
    }

    #[test]
    fn derived_salts_repeat_per_account_and_time_and_verify_with_openssl() {
        let first = hash_password("secret", "live", 1_700_000_000).expect("hash");
        assert_eq!(
            hash_password("secret", "live", 1_700_000_000).expect("hash"),
            first,
            "the same build, the same hash"
        );
        let salt = |hash: &str| hash.split('$').nth(2).expect("salt field").to_owned();
        for other in [
            hash_password("secret", "root", 1_700_000_000).expect("hash"),
            hash_password("secret", "live", 1_700_000_001).expect("hash"),
        ] {
            assert_ne!(salt(&other), salt(&first));
        }
        // The password does not choose the salt.
        assert_eq!(
            salt(&hash_password("other", "live", 1_700_000_000).expect("hash")),
            salt(&first)
        );
        assert_eq!(salt(&first).len(), SALT_LEN);
        assert_eq!(openssl("secret", &salt(&first)), first);
    }
}
