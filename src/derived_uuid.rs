//! UUIDs derived from a digest of what they name instead of drawn at
//! random, so that the same inputs give the same identifiers (the
//! reproducible-build rule) while different inputs give different ones.

/// A version 8 UUID (RFC 9562: "custom", here the first 16 bytes of a
/// SHA-256 of the inputs) in its hyphenated form.
pub fn from_digest(digest: &[u8]) -> String {
    let mut bytes = [0u8; 16];
    let len = digest.len().min(16);
    bytes[..len].copy_from_slice(&digest[..len]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    hyphenated(&bytes)
}

/// 16 bytes written as a UUID is: 8-4-4-4-12 hex digits.
pub fn hyphenated(bytes: &[u8; 16]) -> String {
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_gives_a_version_8_rfc_variant_uuid() {
        let uuid = from_digest(&[0xff; 32]);
        assert_eq!(uuid, "ffffffff-ffff-8fff-bfff-ffffffffffff");
        assert_eq!(hyphenated(&[0; 16]), "00000000-0000-0000-0000-000000000000");
    }
}
