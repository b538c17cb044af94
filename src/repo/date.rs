//! The RFC 2822-style dates of Release files (`Date`, `Valid-Until`).
//!
//! Release files only ever use `Day, DD Mon YYYY HH:MM:SS UTC` (or a numeric
//! zone), so a few lines of civil-calendar arithmetic beat a date crate.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {0:?}: expected e.g. `Sat, 10 Jun 2023 09:10:11 UTC`")]
pub struct DateError(pub String);

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses a Release-file date into seconds since the Unix epoch.
pub fn parse_rfc2822(text: &str) -> Result<i64, DateError> {
    let err = || DateError(text.to_owned());
    // The weekday is redundant and some generators omit it.
    let rest = match text.split_once(',') {
        Some((_, rest)) => rest,
        None => text,
    };
    let mut words = rest.split_whitespace();
    let day: i64 = words.next().and_then(|d| d.parse().ok()).ok_or_else(err)?;
    let month = words
        .next()
        .and_then(|m| MONTHS.iter().position(|n| n.eq_ignore_ascii_case(m)))
        .ok_or_else(err)? as i64
        + 1;
    let year: i64 = words.next().and_then(|y| y.parse().ok()).ok_or_else(err)?;
    let mut hms = words.next().ok_or_else(err)?.split(':');
    let mut part = || -> Result<i64, DateError> {
        hms.next()
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(err)
    };
    let (h, m) = (part()?, part()?);
    // Seconds are optional in RFC 2822.
    let s = part().unwrap_or(0);
    let offset = match words.next() {
        None => 0,
        Some(z)
            if ["UTC", "GMT", "Z", "UT"]
                .iter()
                .any(|u| u.eq_ignore_ascii_case(z)) =>
        {
            0
        }
        Some(z) => parse_offset(z).ok_or_else(err)?,
    };
    if words.next().is_some()
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..=60).contains(&s)
    {
        return Err(err());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

fn parse_offset(z: &str) -> Option<i64> {
    let (sign, digits) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = digits[2..].parse().ok()?;
    Some(sign * (hours * 3600 + minutes * 60))
}

/// Formats seconds since the epoch the way Release files write dates.
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        WEEKDAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Formats seconds since the epoch as RFC 3339 in UTC (`2024-06-01T12:00:00Z`),
/// the form SPDX and CycloneDX documents write.
pub fn format_rfc3339(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_dates() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Ok(0));
        assert_eq!(
            parse_rfc2822("Sat, 10 Jun 2023 09:10:11 UTC"),
            Ok(1_686_388_211)
        );
        assert_eq!(
            parse_rfc2822("Sat, 10 Jun 2023 11:10:11 +0200"),
            Ok(1_686_388_211)
        );
        assert_eq!(parse_rfc2822("29 Feb 2024 00:00 GMT"), Ok(1_709_164_800));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "Sat, 10 Foo 2023 09:10:11 UTC",
            "Sat, 32 Jun 2023 09:10:11 UTC",
            "Sat, 10 Jun 2023 25:10:11 UTC",
            "Sat, 10 Jun 2023 09:10:11 CEST",
            "Sat, 10 Jun 2023 09:10:11 UTC extra",
        ] {
            assert!(parse_rfc2822(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        for secs in [0, 1_686_388_211, 1_709_164_800, 4_102_444_800] {
            assert_eq!(parse_rfc2822(&format_utc(secs)), Ok(secs));
        }
        assert_eq!(format_utc(1_686_388_211), "Sat, 10 Jun 2023 09:10:11 UTC");
        assert_eq!(format_rfc3339(1_686_388_211), "2023-06-10T09:10:11Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
