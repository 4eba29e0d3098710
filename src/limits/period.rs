//! Budget periods: the UTC day and the UTC calendar month.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY_SECS: u64 = 86_400;

/// A budget's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// The UTC day.
    Day,
    /// The UTC calendar month.
    Month,
}

/// One period: which one, when it started and when the next starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// A number that grows by one each period (days or months since 1970).
    pub index: u64,
    /// Its first instant.
    pub start: SystemTime,
    /// The next period's first instant.
    pub end: SystemTime,
    /// Its name in the limits store: `20261126` or `202611`.
    pub label: u32,
}

impl Period {
    /// The keys-file field that sets the budget.
    pub fn field(self) -> &'static str {
        match self {
            Period::Day => "tokens_per_day",
            Period::Month => "tokens_per_month",
        }
    }

    /// Words for messages: "today (UTC)", "this month (UTC)".
    pub fn words(self) -> &'static str {
        match self {
            Period::Day => "today (UTC)",
            Period::Month => "this month (UTC)",
        }
    }

    /// The period that holds `at`.
    pub fn at(self, at: SystemTime) -> Span {
        let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let days = secs / DAY_SECS;
        let (year, month, day) = civil_from_days(days);
        match self {
            Period::Day => Span {
                index: days,
                start: UNIX_EPOCH + Duration::from_secs(days * DAY_SECS),
                end: UNIX_EPOCH + Duration::from_secs((days + 1) * DAY_SECS),
                label: year * 10_000 + month * 100 + day,
            },
            Period::Month => {
                let first = days + 1 - u64::from(day);
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                Span {
                    index: u64::from(year) * 12 + u64::from(month) - 1,
                    start: UNIX_EPOCH + Duration::from_secs(first * DAY_SECS),
                    end: UNIX_EPOCH
                        + Duration::from_secs(days_from_civil(next_year, next_month, 1) * DAY_SECS),
                    label: year * 100 + month,
                }
            }
        }
    }
}

/// (year, month 1-12, day 1-31) of the day `days` after 1970-01-01
/// (Howard Hinnant's `civil_from_days`, for days on or after 1970).
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

/// Days from 1970-01-01 to (year, month, day), the inverse of the above.
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let y = u64::from(year) - u64::from(month <= 2);
    let era = y / 400;
    let yoe = y - era * 400;
    let m = u64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An instant as RFC 3339, for messages.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn days_and_months_are_utc_calendar_periods() {
        let day = Period::Day.at(at("2026-11-26T23:59:59Z"));
        assert_eq!(day.label, 20261126);
        assert_eq!(rfc3339(day.start), "2026-11-26T00:00:00Z");
        assert_eq!(rfc3339(day.end), "2026-11-27T00:00:00Z");
        let month = Period::Month.at(at("2026-12-31T12:00:00Z"));
        assert_eq!(month.label, 202612);
        assert_eq!(rfc3339(month.start), "2026-12-01T00:00:00Z");
        assert_eq!(rfc3339(month.end), "2027-01-01T00:00:00Z");
        let feb = Period::Month.at(at("2028-02-29T00:00:00Z"));
        assert_eq!(rfc3339(feb.end), "2028-03-01T00:00:00Z");
        assert_eq!(
            Period::Month.at(at("2027-01-01T00:00:00Z")).index,
            month.index + 1
        );
    }

    #[test]
    fn the_calendar_round_trips() {
        for days in (0..200_000).step_by(17) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
