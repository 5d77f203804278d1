//! `--since`: an RFC 3339 time (`2026-11-01T00:00:00Z`, `2026-11-01T02:00:00+02:00`) or a date
//! (`2026-11-01`, midnight UTC), as milliseconds since the Unix epoch.

use std::time::UNIX_EPOCH;

use super::error::CliError;

pub fn parse_since(raw: &str) -> Result<i64, CliError> {
    let error = || CliError::Since(raw.to_owned());
    let s = raw.trim();
    if !s.is_ascii() {
        return Err(error());
    }
    let (local, offset_secs) = if s.len() == "2026-11-01".len() {
        (format!("{s}T00:00:00"), 0)
    } else if let Some(base) = s.strip_suffix(['Z', 'z']) {
        (base.to_owned(), 0)
    } else if s.len() > 6 && matches!(&s[s.len() - 6..s.len() - 5], "+" | "-") {
        let (base, zone) = s.split_at(s.len() - 6);
        (base.to_owned(), offset(zone).ok_or_else(error)?)
    } else {
        return Err(error());
    };
    if local.len() < "2026-11-01T00:00:00".len() || !matches!(&local[10..11], "T" | "t") {
        return Err(error());
    }
    let time = humantime::parse_rfc3339_weak(&local).map_err(|_| error())?;
    let ms = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| error())?
        .as_millis();
    let ms = i64::try_from(ms).map_err(|_| error())?;
    Ok(ms - offset_secs * 1000)
}

/// `+02:00` → 7200, `-05:30` → -19800.
fn offset(zone: &str) -> Option<i64> {
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let (hours, minutes) = zone.get(1..)?.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours < 24 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_1: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    #[test]
    fn dates_and_rfc3339_times_become_epoch_ms() {
        assert_eq!(parse_since("2026-11-01").unwrap(), NOV_1);
        assert_eq!(parse_since("2026-11-01T00:00:00Z").unwrap(), NOV_1);
        assert_eq!(
            parse_since("2026-11-01T00:00:00.250Z").unwrap(),
            NOV_1 + 250
        );
        assert_eq!(parse_since("2026-11-01T02:00:00+02:00").unwrap(), NOV_1);
        assert_eq!(parse_since("2026-10-31T19:00:00-05:00").unwrap(), NOV_1);
        assert_eq!(parse_since("1970-01-01T00:00:00Z").unwrap(), 0);
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_forms() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-01 00:00:00Z",
            "2026-11-01T00:00:00",
            "2026-11-01T25:00:00Z",
            "2026-11-01T00:00:00+2:00",
            "1969-12-31",
            "２026-11-01",
        ] {
            let err = parse_since(bad).unwrap_err();
            assert!(
                err.to_string().contains("2026-11-01T00:00:00Z"),
                "{bad}: {err}"
            );
            assert_eq!(err.exit_code(), 2);
        }
    }
}
