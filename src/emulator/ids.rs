//! IDs and stable pseudo-random numbers for new objects: cluster-style IDs that look like the
//! service's, and the mix they are drawn from.

const WORDS: [&str; 12] = [
    "stead", "brick", "tone", "hull", "oak", "reef", "sash", "vale", "crest", "loam", "pike",
    "wren",
];

/// A 64-bit mix (splitmix64) for IDs and read-only numbers that should look random but be stable.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A cluster-style ID, `MMDD-HHMMSS-<word><seq>` (UTC), unique through `seq`.
pub fn new_id(now_ms: i64, seq: i64) -> String {
    let secs = now_ms.div_euclid(1000);
    let (month, day) = month_day(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let word = WORDS[(mix(seq as u64) % WORDS.len() as u64) as usize];
    format!(
        "{month:02}{day:02}-{:02}{:02}{:02}-{word}{seq}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Month and day of a count of days since 1970-01-01 (Howard Hinnant's civil-from-days).
fn month_day(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_real() {
        // 2024-08-04 22:05:09 UTC.
        let id = new_id(1_722_809_109_000, 130);
        let (stamp, suffix) = id.split_at(12);
        assert_eq!(stamp, "0804-220509-");
        assert!(suffix.ends_with("130") && suffix.len() > 3);
        assert_ne!(new_id(0, 1), new_id(0, 2));
        assert!(new_id(0, 1).starts_with("0101-000000-"));
    }
}
