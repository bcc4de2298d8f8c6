//! A job schedule's values checked as the Jobs API checks them, so that `validate` refuses what
//! the workspace would: `quartz_cron_expression` in Quartz syntax (a five-field unix cron gets
//! its Quartz form suggested), `timezone_id` a time zone ID the service knows.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::diagnostic::did_you_mean;

/// Why a schedule value would be refused: what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFault {
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// A check of one schedule value.
pub type ScheduleCheck = fn(&str) -> Result<(), ScheduleFault>;

/// What every cron message ends with: the shape of a Quartz expression.
const QUARTZ_SHAPE: &str = "Quartz cron has 6 or 7 fields: seconds minutes hours day-of-month month day-of-week [year], with `?` in exactly one of the day fields, e.g. `0 0 2 * * ?` (every day at 02:00) or `0 30 6 ? * MON-FRI` (weekdays at 06:30)";

/// One field of a Quartz expression: its name and range, and the names it takes for values.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 7] = [
    Field {
        name: "seconds",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    Field {
        name: "day-of-week",
        min: 1,
        max: 7,
        names: DAYS,
    },
    Field {
        name: "year",
        min: 1970,
        max: 2099,
        names: &[],
    },
];
const DAY_OF_MONTH: usize = 3;
const DAY_OF_WEEK: usize = 5;

/// Checks a `quartz_cron_expression` as the Jobs API's Quartz parser would.
pub fn check_quartz_cron(expression: &str) -> Result<(), ScheduleFault> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let refuse = |why: String, suggestion: Option<String>| ScheduleFault {
        message: format!("`{expression}` is not a Quartz cron expression: {why}"),
        help: match suggestion {
            Some(s) => format!("did you mean `{s}`? {QUARTZ_SHAPE}"),
            None => QUARTZ_SHAPE.to_string(),
        },
    };
    if fields.len() == 5 {
        let why = "it has 5 fields, like a unix cron; Quartz starts with seconds".to_string();
        return Err(refuse(why, from_unix(&fields)));
    }
    if !(6..=7).contains(&fields.len()) {
        let n = fields.len();
        let why = format!(
            "it has {n} field{}, Quartz takes 6 or 7",
            if n == 1 { "" } else { "s" }
        );
        return Err(refuse(why, None));
    }
    for (i, text) in fields.iter().enumerate() {
        check_field(i, text).map_err(|why| refuse(why, None))?;
    }
    let (dom, dow) = (fields[DAY_OF_MONTH], fields[DAY_OF_WEEK]);
    let why = match (dom == "?", dow == "?") {
        (true, false) | (false, true) => return Ok(()),
        (true, true) => "day-of-month and day-of-week are both `?`; exactly one of them must be",
        (false, false) => {
            "neither day-of-month nor day-of-week is `?`; exactly one of them must be (Quartz cannot combine the two)"
        }
    };
    let mut suggestion: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    match (dom, dow) {
        ("?", "?") => suggestion[DAY_OF_MONTH] = "*".into(),
        (_, "*") | ("?", _) => suggestion[DAY_OF_WEEK] = "?".into(),
        ("*", _) => suggestion[DAY_OF_MONTH] = "?".into(),
        _ => suggestion[DAY_OF_WEEK] = "?".into(),
    }
    let suggestion = suggestion.join(" ");
    let valid = check_quartz_cron(&suggestion).is_ok();
    Err(refuse(why.to_string(), valid.then_some(suggestion)))
}

/// The Quartz form of a five-field unix cron (`minute hour day-of-month month day-of-week`),
/// when there is one: seconds zero, `?` for the day field the unix one leaves at `*`, and
/// days of the week counted from 1 (Sunday) instead of 0.
fn from_unix(fields: &[&str]) -> Option<String> {
    let [minute, hour, dom, month, dow] = fields else {
        return None;
    };
    let (dom, dow) = match (*dom, *dow) {
        (dom, "*") => (dom.to_string(), "?".to_string()),
        ("*", dow) => ("?".to_string(), unix_days(dow)?),
        // A unix cron runs when either day matches; Quartz cannot say that.
        _ => return None,
    };
    let quartz = format!("0 {minute} {hour} {dom} {month} {dow}");
    check_quartz_cron(&quartz).is_ok().then_some(quartz)
}

/// A unix day-of-week field (0-7, Sunday 0 or 7) counted the Quartz way (1-7, Sunday 1).
fn unix_days(field: &str) -> Option<String> {
    let day = |d: &str| -> Option<String> {
        match d.parse::<u32>() {
            Ok(n) if n <= 7 => Some((n % 7 + 1).to_string()),
            Ok(_) => None,
            Err(_) => Some(d.to_string()),
        }
    };
    let item = |item: &str| -> Option<String> {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let range = match range.split_once('-') {
            Some((a, b)) => format!("{}-{}", day(a)?, day(b)?),
            None if range == "*" => range.to_string(),
            None => day(range)?,
        };
        Some(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        })
    };
    let items: Option<Vec<String>> = field.split(',').map(item).collect();
    Some(items?.join(","))
}

/// Checks field `index` (0: seconds … 6: year); the error says what is wrong with it.
fn check_field(index: usize, text: &str) -> Result<(), String> {
    let field = &FIELDS[index];
    let is_day = index == DAY_OF_MONTH || index == DAY_OF_WEEK;
    if text == "?" {
        return if is_day {
            Ok(())
        } else {
            Err(format!(
                "`?` is only for day-of-month or day-of-week, not {}",
                field.name
            ))
        };
    }
    let upper = text.to_ascii_uppercase();
    if index == DAY_OF_MONTH
        && let Some(fault) = day_of_month_special(&upper)
    {
        return fault;
    }
    if index == DAY_OF_WEEK
        && let Some(fault) = day_of_week_special(field, &upper)
    {
        return fault;
    }
    for item in upper.split(',') {
        check_item(field, item).map_err(|why| format!("{} `{text}`: {why}", field.name))?;
    }
    Ok(())
}

/// Day-of-month's `L` (last day), `L-3` (third to last), `LW` (last weekday) and `15W`
/// (weekday nearest the 15th), which stand alone; None for anything else.
fn day_of_month_special(text: &str) -> Option<Result<(), String>> {
    let bad = |why: &str| Some(Err(format!("day-of-month `{text}`: {why}")));
    if text == "L" || text == "LW" {
        return Some(Ok(()));
    }
    if let Some(offset) = text.strip_prefix("L-") {
        return match offset.parse::<u32>() {
            Ok(1..=30) => Some(Ok(())),
            _ => bad("`L-n` counts back 1 to 30 days from the last"),
        };
    }
    if let Some(day) = text.strip_suffix('W') {
        return match day.parse::<u32>() {
            Ok(1..=31) => Some(Ok(())),
            _ => bad("`nW` takes one day of the month, 1 to 31"),
        };
    }
    if text.contains('L') || text.contains('W') {
        return bad("`L` and `W` stand alone in day-of-month (`L`, `L-3`, `LW`, `15W`)");
    }
    None
}

/// Day-of-week's `L` (Saturday), `5L` (last Thursday of the month) and `6#3` (third Friday),
/// which stand alone; None for anything else.
fn day_of_week_special(field: &Field, text: &str) -> Option<Result<(), String>> {
    let bad = |why: &str| Some(Err(format!("day-of-week `{text}`: {why}")));
    if text == "L" {
        return Some(Ok(()));
    }
    if let Some((day, nth)) = text.split_once('#') {
        return match (value(field, day), nth.parse::<u32>()) {
            (Ok(_), Ok(1..=5)) => Some(Ok(())),
            _ => bad("`day#n` takes a day (1-7 or SUN-SAT) and n from 1 to 5, e.g. `6#3`"),
        };
    }
    if let Some(day) = text.strip_suffix('L') {
        return match value(field, day) {
            Ok(_) => Some(Ok(())),
            Err(_) => bad("`dayL` takes a day (1-7 or SUN-SAT), e.g. `6L` for the last Friday"),
        };
    }
    if text.contains('L') {
        return bad("`L` and `#` stand alone in day-of-week (`L`, `6L`, `6#3`)");
    }
    None
}

/// One item of a list: `*`, a value, a range `a-b`, each maybe with a step `/n`.
fn check_item(field: &Field, item: &str) -> Result<(), String> {
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n >= 1 && n <= field.max => {}
            _ => {
                return Err(format!(
                    "the step after `/` must be a number from 1 to {}",
                    field.max
                ));
            }
        }
    }
    if range == "*" {
        return Ok(());
    }
    if range.is_empty() {
        return Err("a value is missing".into());
    }
    match range.split_once('-') {
        Some((a, b)) => {
            value(field, a)?;
            value(field, b)?;
        }
        None => {
            value(field, range)?;
        }
    }
    Ok(())
}

/// A number in the field's range, or one of its names (`JAN`, `MON`).
fn value(field: &Field, text: &str) -> Result<u32, String> {
    if let Some(i) = field.names.iter().position(|n| *n == text) {
        return Ok(field.min + i as u32);
    }
    let range = if field.names.is_empty() {
        format!("{} to {}", field.min, field.max)
    } else {
        format!(
            "{} to {} or {}-{}",
            field.min,
            field.max,
            field.names[0],
            field.names[field.names.len() - 1]
        )
    };
    match text.parse::<u32>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range ({range})")),
        Err(_) => Err(format!("`{text}` is not a value ({range})")),
    }
}

/// Time zone IDs the service takes: the tz database's zones and links, and the old three-letter
/// IDs Java still accepts.
const TIME_ZONES: &str = include_str!("timezones.txt");

fn time_zones() -> impl Iterator<Item = &'static str> {
    TIME_ZONES
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Checks a `timezone_id`: a time zone ID as Java names them (`UTC`, `Europe/Berlin`); the
/// help suggests the closest known one.
pub fn check_timezone(id: &str) -> Result<(), ScheduleFault> {
    // Looked up once per schedule of every job: a set, not a scan of the list.
    static KNOWN: LazyLock<HashSet<&'static str>> = LazyLock::new(|| time_zones().collect());
    if KNOWN.contains(id) {
        return Ok(());
    }
    let normalised = id.trim().replace(' ', "_");
    // A city alone (`Berlin`) names the zone it ends.
    let city = time_zones().find(|z| {
        z.rsplit('/')
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(&normalised))
    });
    let closest = did_you_mean(&normalised, time_zones()).or(city);
    Err(ScheduleFault {
        message: format!("`{id}` is not a time zone ID the Jobs API knows"),
        help: match closest {
            Some(z) => format!(
                "did you mean `{z}`? timezone_id takes an IANA time zone ID, spelled as in the tz database (case matters), or `UTC`"
            ),
            None => "timezone_id takes an IANA time zone ID such as `UTC`, `Europe/Berlin` or `America/New_York` (case matters)".into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(expression: &str) -> ScheduleFault {
        check_quartz_cron(expression).expect_err(expression)
    }

    #[test]
    fn quartz_expressions_the_service_takes_pass() {
        for ok in [
            "0 0 2 * * ?",
            "0 30 6 ? * MON-FRI",
            "0 0/15 * * * ?",
            "*/10 * * ? * *",
            "0 0 12 1,15 * ?",
            "0 0 1 L * ?",
            "0 0 1 L-3 * ?",
            "0 0 1 LW * ?",
            "0 0 1 15W * ?",
            "0 0 1 ? * 6L",
            "0 0 1 ? * FRIL",
            "0 0 1 ? * 6#3",
            "0 0 1 ? * L",
            "0 0 1 ? jan-mar sun",
            "0 0 22-2 * * ?",
            "0 0 0 1 1 ? 2030",
            "0 0 0 1 1 ? 2030-2040/2",
            "0 15 10 ? * MON,WED,FRI *",
        ] {
            assert_eq!(check_quartz_cron(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn a_unix_cron_gets_its_quartz_form_suggested() {
        for (unix, quartz) in [
            ("0 2 * * *", "0 0 2 * * ?"),
            ("*/15 * * * *", "0 */15 * * * ?"),
            ("30 6 * * 1-5", "0 30 6 ? * 2-6"),
            ("0 0 * * 0,7", "0 0 0 ? * 1,1"),
            ("0 3 1 * *", "0 0 3 1 * ?"),
            ("0 9 * * MON", "0 0 9 ? * MON"),
        ] {
            let fault = refused(unix);
            assert!(fault.message.contains("5 fields"), "{fault:?}");
            assert!(
                fault.help.starts_with(&format!("did you mean `{quartz}`?")),
                "{unix}: {fault:?}"
            );
        }
        // Both day fields set: a unix cron runs on either, which Quartz cannot say.
        assert!(!refused("0 2 1 * 1").help.contains("did you mean"));
    }

    #[test]
    fn exactly_one_day_field_is_a_question_mark() {
        let both = refused("0 0 2 * * *");
        assert!(both.message.contains("neither"), "{both:?}");
        assert!(
            both.help.starts_with("did you mean `0 0 2 * * ?`"),
            "{both:?}"
        );
        let weekday = refused("0 0 2 * * MON");
        assert!(
            weekday.help.starts_with("did you mean `0 0 2 ? * MON`"),
            "{weekday:?}"
        );
        let neither = refused("0 0 2 ? * ?");
        assert!(neither.message.contains("both `?`"), "{neither:?}");
        assert!(
            neither.help.starts_with("did you mean `0 0 2 * * ?`"),
            "{neither:?}"
        );
    }

    #[test]
    fn fields_out_of_range_or_malformed_are_named() {
        for (bad, said) in [
            ("0 0 25 * * ?", "hours `25`: 25 is out of range (0 to 23)"),
            ("60 0 1 * * ?", "seconds `60`"),
            ("0 0 1 32 * ?", "day-of-month `32`"),
            ("0 0 1 ? 13 MON", "month `13`"),
            ("0 0 1 ? * 8", "day-of-week `8`"),
            ("0 0 1 ? * MON#6", "day-of-week `MON#6`"),
            ("0 0 1 ? * FOO", "`FOO` is not a value"),
            ("0 0/0 1 * * ?", "step after `/`"),
            ("0 0 ? * * ?", "`?` is only for day-of-month or day-of-week"),
            ("0 0 1 1 * ? 1969", "year `1969`"),
            ("0 0 1 L,5 * ?", "stand alone"),
            ("0 0 1 * * ? * *", "8 fields"),
            ("@daily", "1 field,"),
        ] {
            let fault = refused(bad);
            assert!(fault.message.contains(said), "{bad}: {fault:?}");
        }
    }

    #[test]
    fn time_zones_are_known_ids_with_the_closest_suggested() {
        for ok in [
            "UTC",
            "GMT",
            "Europe/Berlin",
            "America/New_York",
            "US/Eastern",
            "Etc/GMT+5",
            "PST",
            "Asia/Kolkata",
            "Asia/Calcutta",
        ] {
            assert_eq!(check_timezone(ok), Ok(()), "{ok}");
        }
        for (bad, suggestion) in [
            ("Europe/Berln", "Europe/Berlin"),
            ("europe/berlin", "Europe/Berlin"),
            ("America/NewYork", "America/New_York"),
            ("Berlin", "Europe/Berlin"),
            ("utc", "UTC"),
        ] {
            let fault = check_timezone(bad).expect_err(bad);
            assert!(
                fault
                    .help
                    .starts_with(&format!("did you mean `{suggestion}`?")),
                "{bad}: {fault:?}"
            );
        }
        let fault = check_timezone("Mars/Olympus_Mons").expect_err("unknown");
        assert!(!fault.help.contains("did you mean"), "{fault:?}");
    }
}
