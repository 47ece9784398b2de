//! Time comes from a `Clock` so that workflow deadlines can be tested by moving time, not by
//! waiting. Dates that deadlines count in are China Standard Time (UTC+8, no daylight saving).

use std::sync::RwLock;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Offset, Utc};

/// China Standard Time; all working-day arithmetic is done on dates in this zone.
pub fn china_offset() -> FixedOffset {
    // 8 hours east is always in range, so the fallback is never taken.
    FixedOffset::east_opt(8 * 3600).unwrap_or(Utc.fix())
}

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;

    /// Today's date in China Standard Time.
    fn today(&self) -> NaiveDate {
        self.now().with_timezone(&china_offset()).date_naive()
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that runs at real speed but can be moved forward (or set) by an administrator when
/// the server was started with `--test-clock`. Time keeps flowing between moves so that
/// ordering of events stays natural.
#[derive(Debug, Default)]
pub struct TestClock {
    offset: RwLock<Duration>,
}

impl TestClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut offset) = self.offset.write() {
            *offset += by;
        }
    }

    pub fn advance_days(&self, days: i64) {
        self.advance(Duration::days(days));
    }

    /// Sets the current time; later readings continue from it at real speed.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut offset) = self.offset.write() {
            *offset = to - Utc::now();
        }
    }

    fn offset(&self) -> Duration {
        self.offset.read().map(|o| *o).unwrap_or_else(|_| Duration::zero())
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }
}

/// Formats an instant the way Shuyu stores and shows it: RFC 3339, UTC, milliseconds.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses an RFC 3339 instant into UTC.
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_moves_forward_by_days() {
        let clock = TestClock::new();
        let before = clock.today();
        clock.advance_days(30);
        assert_eq!(clock.today(), before + Duration::days(30));
    }

    #[test]
    fn test_clock_can_be_set() {
        let clock = TestClock::new();
        let target = parse_instant("2025-09-30T01:00:00Z").unwrap();
        clock.set(target);
        let now = clock.now();
        assert!((now - target).num_seconds().abs() < 5);
        // 01:00 UTC is 09:00 in Beijing, same date.
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2025, 9, 30).unwrap());
    }

    #[test]
    fn today_is_china_date() {
        let clock = TestClock::new();
        clock.set(parse_instant("2025-09-30T17:00:00Z").unwrap());
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2025, 10, 1).unwrap());
    }

    #[test]
    fn instants_format_with_millis() {
        let t = parse_instant("2025-01-02T03:04:05.678+08:00").unwrap();
        assert_eq!(format_instant(t), "2025-01-01T19:04:05.678Z");
    }
}
