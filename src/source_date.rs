//! The build's time: the one date every timestamp of an image gets, so the
//! same inputs give the same bytes on any day.
//!
//! It is `SOURCE_DATE_EPOCH` when set (the reproducible-builds.org
//! convention), else derived from the inputs: the newest date the
//! repositories' signed indexes carry (a Debian `Release` file's `Date:`,
//! an RPM `repomd.xml`'s revision or timestamps). A later snapshot of the
//! archive is a new input, and gets a new date.

use std::ffi::OsStr;
use std::fmt;

/// The environment variable that sets the build's time.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The build's time, in seconds since 1970, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDate {
    pub seconds: i64,
    pub origin: SourceDateOrigin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceDateOrigin {
    /// `SOURCE_DATE_EPOCH`.
    Environment,
    /// The newest date of the repositories' indexes.
    Repositories,
    /// No repository dates its indexes: the Unix epoch, still the same on
    /// every build.
    Epoch,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceDateError {
    #[error(
        "SOURCE_DATE_EPOCH={0:?} is not a number of seconds since 1970 from 0 to {MAX_SECONDS} (e.g. the output of `date +%s`)"
    )]
    Invalid(String),
}

/// The latest time every format can hold: squashfs and the cpio of the
/// initrd store unsigned 32-bit seconds (FAT and ISO 9660 reach further).
pub const MAX_SECONDS: i64 = u32::MAX as i64;

impl SourceDate {
    /// `SOURCE_DATE_EPOCH` from the environment, if set.
    pub fn from_environment() -> Result<Option<Self>, SourceDateError> {
        Self::from_env_value(std::env::var_os(SOURCE_DATE_EPOCH).as_deref())
    }

    /// `value` as `SOURCE_DATE_EPOCH`: decimal digits only, as `date +%s`
    /// prints them (no sign, no space, no fraction).
    pub fn from_env_value(value: Option<&OsStr>) -> Result<Option<Self>, SourceDateError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let invalid = || SourceDateError::Invalid(value.to_string_lossy().into_owned());
        let text = value.to_str().ok_or_else(invalid)?;
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(invalid());
        }
        let seconds: i64 = text.parse().map_err(|_| invalid())?;
        if seconds > MAX_SECONDS {
            return Err(invalid());
        }
        Ok(Some(SourceDate {
            seconds,
            origin: SourceDateOrigin::Environment,
        }))
    }

    /// The build's time: `environment` when set, else the newest of the
    /// repositories' `dates`, else the epoch.
    pub fn for_build(environment: Option<Self>, dates: impl IntoIterator<Item = i64>) -> Self {
        if let Some(date) = environment {
            return date;
        }
        match dates.into_iter().max() {
            Some(newest) => SourceDate {
                seconds: newest.clamp(0, MAX_SECONDS),
                origin: SourceDateOrigin::Repositories,
            },
            None => SourceDate {
                seconds: 0,
                origin: SourceDateOrigin::Epoch,
            },
        }
    }

    /// The seconds as the unsigned 32 bits squashfs and cpio store;
    /// [`MAX_SECONDS`] keeps them in range.
    pub fn seconds_u32(&self) -> u32 {
        u32::try_from(self.seconds.clamp(0, MAX_SECONDS)).unwrap_or(u32::MAX)
    }

    /// As the ISO and FAT writers take it.
    pub fn date_time(&self) -> hadris_fs::DateTime {
        hadris_fs::DateTime::from_unix_seconds(self.seconds)
            .unwrap_or(hadris_fs::DateTime::UNIX_EPOCH)
    }
}

impl fmt::Display for SourceDate {
    /// `1707558567 (2024-02-10 09:49:27 UTC, from the repositories' newest Release date)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.seconds.div_euclid(86_400);
        let rest = self.seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{} ({year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC, {})",
            self.seconds,
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            match self.origin {
                SourceDateOrigin::Environment => "from SOURCE_DATE_EPOCH",
                SourceDateOrigin::Repositories => "the newest date of the repositories' indexes",
                SourceDateOrigin::Epoch => "no repository dates its indexes",
            }
        )
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a
/// proleptic Gregorian date.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(value: &str) -> Result<Option<SourceDate>, SourceDateError> {
        SourceDate::from_env_value(Some(OsStr::new(value)))
    }

    #[test]
    fn the_environment_value_is_plain_decimal_seconds() {
        assert_eq!(SourceDate::from_env_value(None), Ok(None));
        let date = env("1707558567").unwrap().unwrap();
        assert_eq!(date.seconds, 1_707_558_567);
        assert_eq!(date.origin, SourceDateOrigin::Environment);
        assert_eq!(env("0").unwrap().unwrap().seconds, 0);
        assert_eq!(env("4294967295").unwrap().unwrap().seconds_u32(), u32::MAX);
        for bad in [
            "",
            " 1",
            "1 ",
            "-1",
            "+1",
            "1.5",
            "1e9",
            "yesterday",
            "4294967296",
            "99999999999999999999",
        ] {
            assert_eq!(
                env(bad),
                Err(SourceDateError::Invalid(bad.to_owned())),
                "{bad:?}"
            );
        }
        let message = env("soon").unwrap_err().to_string();
        assert!(message.contains("SOURCE_DATE_EPOCH=\"soon\""), "{message}");
    }

    #[test]
    fn the_environment_wins_over_the_repositories() {
        let set = env("1000").unwrap();
        assert_eq!(SourceDate::for_build(set, [5000, 7000]).seconds, 1000);
    }

    #[test]
    fn without_it_the_newest_repository_date_is_the_build_time() {
        let date = SourceDate::for_build(None, [1_707_558_567, 1_700_000_000]);
        assert_eq!(date.seconds, 1_707_558_567);
        assert_eq!(date.origin, SourceDateOrigin::Repositories);
        let none = SourceDate::for_build(None, []);
        assert_eq!((none.seconds, none.origin), (0, SourceDateOrigin::Epoch));
        // Out-of-range dates are brought into what the formats can hold.
        assert_eq!(SourceDate::for_build(None, [-5]).seconds, 0);
        assert_eq!(SourceDate::for_build(None, [i64::MAX]).seconds, MAX_SECONDS);
    }

    #[test]
    fn it_prints_as_seconds_and_a_utc_date() {
        let date = SourceDate::for_build(None, [1_707_558_567]);
        assert_eq!(
            date.to_string(),
            "1707558567 (2024-02-10 09:49:27 UTC, the newest date of the repositories' indexes)"
        );
        assert_eq!(
            env("0").unwrap().unwrap().to_string(),
            "0 (1970-01-01 00:00:00 UTC, from SOURCE_DATE_EPOCH)"
        );
        assert_eq!(
            date.date_time().unix_seconds(),
            1_707_558_567,
            "the writers' date"
        );
    }
}
