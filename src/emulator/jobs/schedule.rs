//! A job schedule as the service checks it: `quartz_cron_expression` in Quartz syntax (seconds
//! first, 6 or 7 fields, `?` in exactly one of day-of-month and day-of-week) and `timezone_id` a
//! Java time zone ID.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::emulator::{ApiError, ApiResult};

/// The IANA zone names (zones and links) the emulator knows, shipped as data.
const TIME_ZONE_DATA: &str = include_str!("time_zones.txt");

static TIME_ZONES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    TIME_ZONE_DATA
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field of a Quartz cron expression.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Seconds,
    Minutes,
    Hours,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl Field {
    const ALL: [Field; 7] = [
        Field::Seconds,
        Field::Minutes,
        Field::Hours,
        Field::DayOfMonth,
        Field::Month,
        Field::DayOfWeek,
        Field::Year,
    ];

    fn range(self) -> (u32, u32) {
        match self {
            Field::Seconds | Field::Minutes => (0, 59),
            Field::Hours => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (1, 7),
            Field::Year => (1970, 2099),
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Field::Month => &MONTHS,
            Field::DayOfWeek => &WEEKDAYS,
            _ => &[],
        }
    }

    /// A single value: a number in range, or a month or weekday name.
    fn value(self, text: &str) -> bool {
        let (min, max) = self.range();
        match text.parse::<u32>() {
            Ok(n) => (min..=max).contains(&n),
            Err(_) => self
                .names()
                .iter()
                .any(|name| name.eq_ignore_ascii_case(text)),
        }
    }

    /// One item of a comma-separated list.
    fn item(self, item: &str) -> bool {
        let upper = item.to_ascii_uppercase();
        match self {
            Field::DayOfMonth if upper == "L" || upper == "LW" => return true,
            Field::DayOfMonth if upper.starts_with("L-") => {
                return upper[2..].parse::<u32>().is_ok_and(|n| n <= 30);
            }
            Field::DayOfMonth if upper.len() > 1 && upper.ends_with('W') => {
                return self.value(&upper[..upper.len() - 1]);
            }
            Field::DayOfWeek if upper == "L" => return true,
            Field::DayOfWeek if upper.len() > 1 && upper.ends_with('L') => {
                return self.value(&upper[..upper.len() - 1]);
            }
            Field::DayOfWeek if upper.contains('#') => {
                let (day, nth) = upper.split_once('#').unwrap_or_default();
                return self.value(day) && nth.parse::<u32>().is_ok_and(|n| (1..=5).contains(&n));
            }
            _ => {}
        }
        let (base, step) = match upper.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (upper.as_str(), None),
        };
        if let Some(step) = step
            && !step
                .parse::<u32>()
                .is_ok_and(|n| n >= 1 && n <= self.range().1.max(1))
        {
            return false;
        }
        if base == "*" {
            return true;
        }
        match base.split_once('-') {
            Some((from, to)) => self.value(from) && self.value(to),
            None => self.value(base),
        }
    }

    fn valid(self, text: &str) -> bool {
        let day = matches!(self, Field::DayOfMonth | Field::DayOfWeek);
        if text == "?" {
            return day;
        }
        !text.is_empty() && text.split(',').all(|item| self.item(item))
    }
}

/// Whether `expression` is a Quartz cron expression the scheduler accepts.
pub(super) fn valid_quartz_cron(expression: &str) -> bool {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return false;
    }
    if !fields
        .iter()
        .zip(Field::ALL)
        .all(|(text, field)| field.valid(text))
    {
        return false;
    }
    // Quartz needs `?` in exactly one of day-of-month and day-of-week.
    (fields[3] == "?") != (fields[5] == "?")
}

/// Whether `id` is a time zone ID Java resolves: an IANA name, or a fixed offset from UTC/GMT
/// (`GMT+2`, `UTC-05:30`).
pub(super) fn valid_time_zone(id: &str) -> bool {
    if TIME_ZONES.contains(id) || id == "Z" {
        return true;
    }
    let offset = ["GMT", "UTC", "UT"]
        .iter()
        .find_map(|prefix| id.strip_prefix(prefix));
    let Some(offset) = offset.and_then(|o| o.strip_prefix(['+', '-'])) else {
        return false;
    };
    let (hours, minutes) = offset.split_once(':').unwrap_or((offset, "00"));
    let two_digits = |s: &str| (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    two_digits(hours)
        && minutes.len() == 2
        && two_digits(minutes)
        && hours.parse::<u32>().is_ok_and(|h| h <= 18)
        && minutes.parse::<u32>().is_ok_and(|m| m < 60)
}

/// Checks a schedule's expression and time zone, with the service's messages.
pub(super) fn check_schedule(expression: &str, time_zone: &str) -> ApiResult<()> {
    if !valid_quartz_cron(expression) {
        return Err(ApiError::invalid(format!(
            "Invalid quartz_cron_expression: {expression}. Databricks uses Quartz cron syntax, which is different from the standard cron syntax. See http://www.quartz-scheduler.org/documentation/quartz-2.1.x/tutorials/crontrigger.html for more details."
        )));
    }
    if !valid_time_zone(time_zone) {
        return Err(ApiError::invalid(format!(
            "Invalid timezone_id: {time_zone}. It must be a Java time zone ID such as UTC or America/Los_Angeles."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartz_expressions_are_accepted() {
        for expression in [
            "0 0 2 * * ?",
            "0 15 22 ? * *",
            "0 0/5 14,18 * * ?",
            "0 0 12 ? * MON-FRI",
            "0 15 10 L * ?",
            "0 15 10 ? * 6L",
            "0 15 10 ? * 6#3",
            "0 0 12 1W * ?",
            "0 0 12 L-3 * ?",
            "0 0 12 ? JAN,jul SUN 2030",
            "0 */10 * * * ?",
            "  0 0 2 * * ?  ",
        ] {
            assert!(valid_quartz_cron(expression), "{expression}");
        }
    }

    #[test]
    fn unix_and_malformed_expressions_are_refused() {
        for expression in [
            "0 2 * * *",
            "*/5 * * * *",
            "0 0 2 * * *",
            "0 0 2 ? * ?",
            "0 0 2 1 * MON",
            "60 0 2 * * ?",
            "0 0 24 * * ?",
            "0 0 2 32 * ?",
            "0 0 2 ? * 8",
            "0 0 2 ? FOO *",
            "0 0 2 * * ? 1969",
            "0 0 2 * * ? 2030 1",
            "0 0/0 2 * * ?",
            "0 0 2 ? * MON#6",
            "",
            "x",
        ] {
            assert!(!valid_quartz_cron(expression), "{expression}");
        }
    }

    #[test]
    fn time_zones_are_java_ids() {
        for id in [
            "UTC",
            "GMT",
            "Europe/Berlin",
            "America/Los_Angeles",
            "US/Pacific",
            "Asia/Kolkata",
            "Etc/GMT+5",
            "GMT+2",
            "UTC-05:30",
            "Z",
        ] {
            assert!(valid_time_zone(id), "{id}");
        }
        for id in [
            "",
            "utc",
            "Mars/Olympus",
            "Europe/Berlin ",
            "GMT+25",
            "PST8",
            "+02:00x",
        ] {
            assert!(!valid_time_zone(id), "{id}");
        }
    }

    #[test]
    fn the_messages_are_the_services() {
        let error = check_schedule("0 2 * * *", "UTC").expect_err("5 fields");
        assert!(
            error.message.starts_with(
                "Invalid quartz_cron_expression: 0 2 * * *. Databricks uses Quartz cron syntax"
            ),
            "{}",
            error.message
        );
        let error = check_schedule("0 0 2 * * ?", "Mars/Olympus").expect_err("unknown zone");
        assert!(error.message.contains("Mars/Olympus"), "{}", error.message);
        assert!(check_schedule("0 0 2 * * ?", "UTC").is_ok());
    }
}
