//! Release names and the choices made over the list of releases: which to keep, which one a
//! rollback goes back to.
//!
//! A release is `releases/<UTC timestamp>` (`20260314093005`, Capistrano's format), so names
//! sort in deploy order. A release that went live and whose programs restarted gets a
//! [`GOOD_MARKER`] file; only those are rollback targets.

use std::time::{SystemTime, UNIX_EPOCH};

/// File written into a release once it is live and its programs restarted.
pub const GOOD_MARKER: &str = ".dm-release-ok";

/// The release name for `unix` seconds: `YYYYMMDDHHMMSS` in UTC.
pub fn release_name(unix: u64) -> String {
    let (y, mo, d, h, mi, s) = utc(unix);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// `unix` seconds as `YYYY-MM-DD HH:MM:SS UTC`, for messages.
pub fn utc_time(unix: u64) -> String {
    let (y, mo, d, h, mi, s) = utc(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// Seconds since the Unix epoch on this machine.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether `name` looks like a release directory dm made (14 digits).
pub fn is_release_name(name: &str) -> bool {
    name.len() == 14 && name.bytes().all(|b| b.is_ascii_digit())
}

/// (year, month, day, hour, minute, second) of `unix` seconds in UTC (proleptic Gregorian,
/// Howard Hinnant's `civil_from_days`).
fn utc(unix: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = unix / 86_400;
    let rem = unix % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// One release directory as read from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInfo {
    /// Its name (`20260314093005`).
    pub name: String,
    /// Whether it went live successfully ([`GOOD_MARKER`]).
    pub good: bool,
}

/// The releases to delete so that `keep` remain: the oldest first, never `current`.
pub fn releases_to_remove(
    releases: &[ReleaseInfo],
    keep: usize,
    current: Option<&str>,
) -> Vec<String> {
    let mut names: Vec<&str> = releases.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    let excess = names.len().saturating_sub(keep);
    names
        .into_iter()
        .filter(|n| Some(*n) != current)
        .take(excess)
        .map(str::to_string)
        .collect()
}

/// The release a rollback goes to: the newest good release older than `current`.
pub fn rollback_target<'a>(releases: &'a [ReleaseInfo], current: &str) -> Option<&'a ReleaseInfo> {
    releases
        .iter()
        .filter(|r| r.good && r.name.as_str() < current)
        .max_by(|a, b| a.name.cmp(&b.name))
}

/// Parses the listing printed by the host: one `name good|new` line per release.
pub fn parse_listing(text: &str) -> Vec<ReleaseInfo> {
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(name, _)| is_release_name(name))
        .map(|(name, state)| ReleaseInfo {
            name: name.to_string(),
            good: state.trim() == "good",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(name: &str, good: bool) -> ReleaseInfo {
        ReleaseInfo {
            name: name.to_string(),
            good,
        }
    }

    #[test]
    fn release_names_are_utc_timestamps() {
        assert_eq!(release_name(0), "19700101000000");
        // 2024-02-29 23:59:59 UTC: a leap day.
        assert_eq!(release_name(1_709_251_199), "20240229235959");
        assert_eq!(release_name(1_709_251_200), "20240301000000");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert!(is_release_name(&release_name(now_unix())));
        assert!(!is_release_name("2024"));
        assert!(!is_release_name("2024022923595x"));
    }

    #[test]
    fn cleanup_keeps_the_newest_and_the_live_release() {
        let all = vec![
            rel("20240101000003", true),
            rel("20240101000001", true),
            rel("20240101000002", true),
            rel("20240101000004", false),
        ];
        assert_eq!(
            releases_to_remove(&all, 2, Some("20240101000004")),
            vec!["20240101000001", "20240101000002"]
        );
        // After a rollback the live release is an old one: it stays, the excess comes from the rest.
        assert_eq!(
            releases_to_remove(&all, 2, Some("20240101000001")),
            vec!["20240101000002", "20240101000003"]
        );
        assert!(releases_to_remove(&all, 10, None).is_empty());
    }

    #[test]
    fn rollback_goes_to_the_previous_good_release() {
        let all = vec![
            rel("20240101000001", true),
            rel("20240101000002", false),
            rel("20240101000003", true),
        ];
        assert_eq!(
            rollback_target(&all, "20240101000003").map(|r| r.name.as_str()),
            Some("20240101000001")
        );
        assert_eq!(rollback_target(&all, "20240101000001"), None);
    }

    #[test]
    fn listing_ignores_foreign_entries() {
        let all = parse_listing("20240101000001 good\nnotes new\n20240101000002 new\n");
        assert_eq!(
            all,
            vec![rel("20240101000001", true), rel("20240101000002", false)]
        );
    }
}
