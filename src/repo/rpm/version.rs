//! RPM version ordering: `[epoch:]version[-release]` compared as rpm does.
//!
//! Segment comparison (`rpmvercmp`: digits against letters, `~` sorting
//! before everything, `^` after the bare version but before anything longer)
//! comes from the `rpm-version` crate. Parsing an EVR string is done here,
//! because rpm's rules differ from that crate's: rpm splits the release at
//! the *last* `-` and takes an epoch only from leading digits before `:`;
//! and rpm orders a missing release before any release, where the crate
//! compares it as an empty string.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvrError {
    #[error("empty version")]
    Empty,
    #[error("epoch {epoch:?} in {evr:?} does not fit in 32 bits (rpm stores epochs as int32)")]
    EpochOutOfRange { evr: String, epoch: String },
}

/// Compares two version (or release) strings segment by segment, as rpm's
/// `rpmvercmp`.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    // The crate exposes segment comparison only through its Evr; with equal
    // epochs and empty releases, the version alone decides.
    rpm_version::Evr::new("0", a, "").cmp(&rpm_version::Evr::new("0", b, ""))
}

/// An epoch-version-release triple.
///
/// `Ord` is rpm's `rpmverCmp` (what `rpm.vercmp` answers): epoch, version,
/// then release, a missing release sorting before any release, even an
/// empty one. Dependency ranges use [`Evr::compare_for_dependency`].
#[derive(Debug, Clone)]
pub struct Evr {
    /// rpm treats a missing epoch as 0; the two are not distinguished here.
    pub epoch: u32,
    pub version: String,
    /// `None` when the string had no `-`.
    pub release: Option<String>,
}

impl Evr {
    pub fn new(epoch: u32, version: impl Into<String>, release: Option<String>) -> Self {
        Evr {
            epoch,
            version: version.into(),
            release,
        }
    }

    /// Parses `[epoch:]version[-release]` the way rpm's `rpmverParse` does.
    pub fn parse(text: &str) -> Result<Evr, EvrError> {
        if text.is_empty() {
            return Err(EvrError::Empty);
        }
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = match text[digits..].strip_prefix(':') {
            Some(rest) => {
                let epoch_text = &text[..digits];
                let epoch = if epoch_text.is_empty() {
                    0
                } else {
                    epoch_text
                        .parse::<u32>()
                        .ok()
                        .filter(|e| i32::try_from(*e).is_ok())
                        .ok_or_else(|| EvrError::EpochOutOfRange {
                            evr: text.to_owned(),
                            epoch: epoch_text.to_owned(),
                        })?
                };
                (epoch, rest)
            }
            None => (0, text),
        };
        let (version, release) = match rest.rfind('-') {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_owned())),
            None => (rest, None),
        };
        // rpm tolerates `:` or `-1`, but no package or dependency carries
        // an empty version, and an EVR that prints as nothing cannot be
        // read back.
        if version.is_empty() {
            return Err(EvrError::Empty);
        }
        Ok(Evr {
            epoch,
            version: version.to_owned(),
            release,
        })
    }

    /// How rpm compares the two ends of a dependency range: the releases
    /// count only when both sides have one, so `Requires: foo = 1.0` is met
    /// by every release of foo 1.0. This is not a total order (`1.0` equals
    /// both `1.0-1` and `1.0-2`), which is why it is not `Ord`.
    pub fn compare_for_dependency(&self, other: &Evr) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                _ => Ordering::Equal,
            })
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

impl PartialOrd for Evr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal under rpm's comparison, not byte for byte: `1.01` equals `1.1`.
impl PartialEq for Evr {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Evr {}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A zero epoch is left out, except where the version itself would
        // then read as an epoch (`0:12:5` printed as `12:5`).
        let digits = self.version.bytes().take_while(u8::is_ascii_digit).count();
        if self.epoch != 0 || self.version[digits..].starts_with(':') {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.version)?;
        if let Some(release) = &self.release {
            write!(f, "-{release}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Evr {
    type Err = EvrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Evr::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    fn evr(s: &str) -> Evr {
        Evr::parse(s).unwrap()
    }

    #[test]
    fn parse_splits_like_rpm() {
        let e = evr("2:1.0-3.fc40");
        assert_eq!((e.epoch, e.version.as_str()), (2, "1.0"));
        assert_eq!(e.release.as_deref(), Some("3.fc40"));
        let e = evr("1.0");
        assert_eq!((e.epoch, e.release), (0, None));
        // The release starts after the last dash.
        let e = evr("1.0-rc1-2");
        assert_eq!(e.version, "1.0-rc1");
        assert_eq!(e.release.as_deref(), Some("2"));
        // Only leading digits make an epoch.
        let e = evr("a1:2.0");
        assert_eq!((e.epoch, e.version.as_str()), (0, "a1:2.0"));
        assert_eq!(evr(":1.0").epoch, 0);
        for empty in ["", ":", "-1", "1:-1"] {
            assert_eq!(Evr::parse(empty), Err(EvrError::Empty), "{empty}");
        }
        assert!(matches!(
            Evr::parse("4294967296:1"),
            Err(EvrError::EpochOutOfRange { .. })
        ));
        assert!(matches!(
            Evr::parse("2147483648:1"),
            Err(EvrError::EpochOutOfRange { .. })
        ));
    }

    #[test]
    fn display_round_trips() {
        for s in ["1.0", "1:1.0", "1.0-1", "3:2.0~rc1-0.1.fc40", "1.0-"] {
            assert_eq!(evr(s).to_string(), s);
        }
        assert_eq!(evr("0:1.0-1").to_string(), "1.0-1");
        assert_eq!(evr("0:12:5").to_string(), "0:12:5");
        assert_eq!(evr(":5").to_string(), "5");
    }

    #[test]
    fn vercmp_vectors() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("1.01", "1.1", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("a", "1", Less),
            ("1.a", "1.1", Less),
            ("10", "9", Greater),
            ("1_0", "1.0", Equal),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn missing_release_matches_any_for_dependencies_but_sorts_first() {
        assert_eq!(evr("1.0").compare_for_dependency(&evr("1.0-5")), Equal);
        assert_eq!(evr("1.0-5").compare_for_dependency(&evr("1.0")), Equal);
        assert_eq!(evr("1.0").cmp(&evr("1.0-5")), Less);
        assert_eq!(evr("1:1.0").cmp(&evr("9.0")), Greater);
        let mut v = [evr("1.0-2"), evr("1.0"), evr("1.0-10"), evr("0.9-99")];
        v.sort();
        let sorted: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["0.9-99", "1.0", "1.0-2", "1.0-10"]);
    }
}
