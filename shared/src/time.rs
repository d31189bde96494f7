//! Timestamps as the API and the schema carry them: RFC 3339, UTC, millisecond precision,
//! which also sort correctly as text.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

pub type Timestamp = OffsetDateTime;

pub fn format(t: Timestamp) -> String {
    // A fixed width, so that text order is time order.
    let layout = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC).format(&layout).unwrap_or_default()
}

pub fn parse(text: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A number in [0, 1) from the system's randomness: the jitter that spreads out retries.
pub fn unit_random() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

pub fn from_unix_ms(ms: i64) -> Timestamp {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn to_unix_ms(t: Timestamp) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_fixed_width_and_sort_as_text() {
        let a = format(from_unix_ms(1_700_000_000_000));
        let b = format(from_unix_ms(1_700_000_000_123));
        assert_eq!(a, "2023-11-14T22:13:20.000Z");
        assert_eq!(b, "2023-11-14T22:13:20.123Z");
        assert!(a < b);
        assert_eq!(parse(&b), Some(from_unix_ms(1_700_000_000_123)));
        assert_eq!(to_unix_ms(from_unix_ms(1_700_000_000_123)), 1_700_000_000_123);
    }
}
