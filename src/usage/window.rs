//! Daily quota windows. A "day" starts at `QUOTA_RESET_HOUR` local time in
//! `QUOTA_RESET_TIMEZONE`. The default, 07:00 UTC, is the original project's "UTC+7" reset,
//! which is midnight Pacific daylight time, when Google's own daily quotas roll over.
use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Where daily windows start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResetRule {
    pub tz: Tz,
    pub hour: u32,
}

impl Default for ResetRule {
    fn default() -> Self {
        Self {
            tz: chrono_tz::UTC,
            hour: 7,
        }
    }
}

impl ResetRule {
    /// The UTC instant at which the window of local calendar day `date` starts. On a
    /// daylight-saving gap the reset moves to the first valid instant after it; on an overlap
    /// the earlier of the two instants is used, so a window is never entered twice.
    fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let naive =
            date.and_time(NaiveTime::from_hms_opt(self.hour.min(23), 0, 0).expect("hour < 24"));
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
            LocalResult::None => {
                // Gaps are at most a couple of hours; step forward until local time exists.
                let mut probe = naive;
                for _ in 0..180 {
                    probe += chrono::Duration::minutes(1);
                    if let Some(t) = self.tz.from_local_datetime(&probe).earliest() {
                        return t.with_timezone(&Utc);
                    }
                }
                Utc.from_utc_datetime(&naive)
            }
        }
    }

    /// Start of the window containing `now`.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local_date = now.with_timezone(&self.tz).date_naive();
        let today = self.start_of(local_date);
        if now >= today {
            today
        } else {
            self.start_of(
                local_date
                    .checked_sub_days(Days::new(1))
                    .unwrap_or(local_date),
            )
        }
    }

    /// The next reset after `now`.
    pub fn next_reset(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local_date = now.with_timezone(&self.tz).date_naive();
        let today = self.start_of(local_date);
        if now < today {
            today
        } else {
            self.start_of(
                local_date
                    .checked_add_days(Days::new(1))
                    .unwrap_or(local_date),
            )
        }
    }

    /// A stable key for the window containing `now` (its start, as a unix timestamp).
    pub fn window_key(&self, now: DateTime<Utc>) -> i64 {
        self.window_start(now).timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn default_rule_splits_at_seven_utc() {
        let r = ResetRule::default();
        let before = utc("2026-03-10T06:59:59Z");
        let at = utc("2026-03-10T07:00:00Z");
        assert_ne!(r.window_key(before), r.window_key(at));
        assert_eq!(r.window_start(before), utc("2026-03-09T07:00:00Z"));
        assert_eq!(r.window_start(at), utc("2026-03-10T07:00:00Z"));
        assert_eq!(r.next_reset(before), at);
        assert_eq!(r.next_reset(at), utc("2026-03-11T07:00:00Z"));
    }

    #[test]
    fn los_angeles_midnight_follows_dst() {
        let r = ResetRule {
            tz: chrono_tz::America::Los_Angeles,
            hour: 0,
        };
        // Winter (PST, UTC-8): midnight is 08:00 UTC.
        assert_eq!(
            r.window_start(utc("2026-01-15T12:00:00Z")),
            utc("2026-01-15T08:00:00Z")
        );
        // Summer (PDT, UTC-7): midnight is 07:00 UTC.
        assert_eq!(
            r.window_start(utc("2026-07-15T12:00:00Z")),
            utc("2026-07-15T07:00:00Z")
        );
        // The day DST starts (2026-03-08) is 23 hours long.
        let start = r.window_start(utc("2026-03-08T12:00:00Z"));
        let next = r.next_reset(utc("2026-03-08T12:00:00Z"));
        assert_eq!(start, utc("2026-03-08T08:00:00Z"));
        assert_eq!(next, utc("2026-03-09T07:00:00Z"));
        assert_eq!((next - start).num_hours(), 23);
        // The day DST ends (2026-11-01) is 25 hours long.
        let start = r.window_start(utc("2026-11-01T12:00:00Z"));
        let next = r.next_reset(utc("2026-11-01T12:00:00Z"));
        assert_eq!((next - start).num_hours(), 25);
    }

    #[test]
    fn reset_inside_a_dst_gap_moves_forward() {
        // 02:00 does not exist in Los Angeles on 2026-03-08.
        let r = ResetRule {
            tz: chrono_tz::America::Los_Angeles,
            hour: 2,
        };
        let start = r.window_start(utc("2026-03-08T20:00:00Z"));
        assert_eq!(
            start,
            utc("2026-03-08T10:00:00Z"),
            "03:00 PDT is the first valid instant"
        );
    }

    #[test]
    fn windows_are_contiguous_for_a_year() {
        for rule in [
            ResetRule::default(),
            ResetRule {
                tz: chrono_tz::America::Los_Angeles,
                hour: 0,
            },
            ResetRule {
                tz: chrono_tz::Asia::Shanghai,
                hour: 7,
            },
        ] {
            let mut t = utc("2026-01-01T00:00:00Z");
            let end = utc("2027-01-01T00:00:00Z");
            while t < end {
                let next = rule.next_reset(t);
                assert!(next > t);
                assert_eq!(rule.window_start(next), next, "{rule:?} at {t}");
                assert!(rule.window_start(t) <= t);
                t += chrono::Duration::hours(5);
            }
        }
    }
}
