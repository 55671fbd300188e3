//! Sleep and wake on a schedule (`spec.schedule`): two five-field cron expressions (minute,
//! hour, day of month, month, day of week; `*`, lists, ranges and steps) read in an IANA time
//! zone. An environment should be asleep at an instant when the latest sleep time at or
//! before it is later than the latest wake time: the sync compares that with what the
//! environment is and starts a sleep or a wake.
//!
//! Times are whole minutes; the search looks back at most eight days (a weekly schedule's
//! period and a day of daylight-saving slack), so an expression that fires less often than
//! weekly is refused.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::spec::ScheduleSpec;

/// How far back the latest sleep or wake time is searched for, in minutes.
const LOOKBACK_MINUTES: i64 = 8 * 24 * 60;
/// Minutes in a week, the period over which [`Schedule::asleep_share`] counts.
const WEEK_MINUTES: i64 = 7 * 24 * 60;

/// One cron field's allowed values, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field(u64);

impl Field {
    fn parse(text: &str, min: u8, max: u8, name: &str) -> Result<Field, String> {
        let mut bits = 0u64;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (
                    r,
                    s.parse::<u8>()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| format!("{name}: step `{s}` is not a number above 0"))?,
                ),
                None => (part, 1),
            };
            let (from, to) = if range == "*" {
                (min, max)
            } else if let Some((a, b)) = range.split_once('-') {
                (number(a, min, max, name)?, number(b, min, max, name)?)
            } else {
                let n = number(range, min, max, name)?;
                (n, if step > 1 { max } else { n })
            };
            if from > to {
                return Err(format!("{name}: range `{range}` runs backwards"));
            }
            for n in (from..=to).step_by(usize::from(step)) {
                bits |= 1 << n;
            }
        }
        Ok(Field(bits))
    }

    fn has(self, n: i8) -> bool {
        (0..64).contains(&n) && self.0 & (1 << n) != 0
    }
}

fn number(text: &str, min: u8, max: u8, name: &str) -> Result<u8, String> {
    text.parse::<u8>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{name}: `{text}` is not a number from {min} to {max}"))
}

/// A parsed five-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minute: Field,
    hour: Field,
    day: Field,
    month: Field,
    weekday: Field,
    /// Whether day of month and day of week were both restricted (cron then fires when
    /// either matches).
    either_day: bool,
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(format!(
                "must have five fields (minute hour day-of-month month day-of-week), such as \"0 20 * * 1-5\"; found {}",
                fields.len()
            ));
        };
        let mut weekdays = Field::parse(weekday, 0, 7, "day of week")?;
        // 7 is Sunday too.
        if weekdays.has(7) {
            weekdays.0 |= 1;
        }
        Ok(Cron {
            minute: Field::parse(minute, 0, 59, "minute")?,
            hour: Field::parse(hour, 0, 23, "hour")?,
            day: Field::parse(day, 1, 31, "day of month")?,
            month: Field::parse(month, 1, 12, "month")?,
            weekday: weekdays,
            either_day: day != "*" && weekday != "*",
        })
    }

    fn matches(&self, t: DateTime) -> bool {
        let day = self.day.has(t.day());
        let weekday = self.weekday.has(t.weekday().to_sunday_zero_offset());
        let days = if self.either_day {
            day || weekday
        } else {
            day && weekday
        };
        self.minute.has(t.minute()) && self.hour.has(t.hour()) && self.month.has(t.month()) && days
    }
}

/// A validated `spec.schedule`.
#[derive(Debug, Clone)]
pub struct Schedule {
    sleep: Cron,
    wake: Cron,
    zone: TimeZone,
}

impl Schedule {
    /// The schedule, or the first problem with it as (field under `spec.schedule`, message).
    pub fn new(spec: &ScheduleSpec) -> Result<Schedule, (&'static str, String)> {
        let sleep = Cron::parse(&spec.sleep).map_err(|e| ("sleep", e))?;
        let wake = Cron::parse(&spec.wake).map_err(|e| ("wake", e))?;
        let zone = TimeZone::get(&spec.time_zone).map_err(|_| {
            (
                "timeZone",
                format!(
                    "`{}` is not an IANA time zone, such as Europe/Berlin or UTC",
                    spec.time_zone
                ),
            )
        })?;
        let schedule = Schedule { sleep, wake, zone };
        // Both must fire within every window the search looks at: tried at instants spread
        // over a year.
        for (field, cron) in [("sleep", &schedule.sleep), ("wake", &schedule.wake)] {
            let fires_weekly = (0..8).all(|k| {
                Timestamp::from_second(k * 47 * 86_400)
                    .ok()
                    .and_then(|at| schedule.latest(cron, at))
                    .is_some()
            });
            if !fires_weekly {
                return Err((field, "must fire at least once a week".to_owned()));
            }
        }
        Ok(schedule)
    }

    /// The latest minute at or before `at` that `cron` names, in minutes since the epoch.
    fn latest(&self, cron: &Cron, at: Timestamp) -> Option<i64> {
        let now = at.as_second().div_euclid(60);
        (0..LOOKBACK_MINUTES).map(|back| now - back).find(|minute| {
            Timestamp::from_second(minute * 60)
                .map(|t| cron.matches(t.to_zoned(self.zone.clone()).datetime()))
                .unwrap_or(false)
        })
    }

    /// Whether the environment should be asleep at `at` (seconds since the epoch).
    pub fn asleep_at(&self, at: u64) -> bool {
        let Ok(at) = Timestamp::from_second(i64::try_from(at).unwrap_or(i64::MAX)) else {
            return false;
        };
        match (self.latest(&self.sleep, at), self.latest(&self.wake, at)) {
            (Some(sleep), Some(wake)) => sleep > wake,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The share of a week the schedule keeps the environment asleep, in millionths (the
    /// week starting at `from`, seconds since the epoch): minute by minute from the state at
    /// its start.
    pub fn asleep_share(&self, from: u64) -> u64 {
        let mut asleep = self.asleep_at(from);
        let start = i64::try_from(from / 60).unwrap_or(0);
        let mut minutes = 0u64;
        for minute in start + 1..=start + WEEK_MINUTES {
            let Ok(t) = Timestamp::from_second(minute * 60) else {
                break;
            };
            let local = t.to_zoned(self.zone.clone()).datetime();
            if self.wake.matches(local) {
                asleep = false;
            } else if self.sleep.matches(local) {
                asleep = true;
            }
            minutes += u64::from(asleep);
        }
        minutes * 1_000_000 / WEEK_MINUTES as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(sleep: &str, wake: &str, zone: &str) -> Schedule {
        Schedule::new(&ScheduleSpec {
            sleep: sleep.into(),
            wake: wake.into(),
            time_zone: zone.into(),
        })
        .unwrap()
    }

    /// Seconds since the epoch of a UTC time.
    fn utc(text: &str) -> u64 {
        let t: Timestamp = text.parse().unwrap();
        t.as_second() as u64
    }

    #[test]
    fn weekday_nights_and_weekends_are_asleep_in_the_schedule_s_zone() {
        let s = schedule("0 20 * * 1-5", "0 7 * * 1-5", "Europe/Berlin");
        // 2026-12-07 is a Monday; Berlin is UTC+1 in December.
        assert!(!s.asleep_at(utc("2026-12-07T10:00:00Z")), "Monday 11:00");
        assert!(!s.asleep_at(utc("2026-12-07T18:59:00Z")), "Monday 19:59");
        assert!(s.asleep_at(utc("2026-12-07T19:00:00Z")), "Monday 20:00");
        assert!(s.asleep_at(utc("2026-12-08T05:59:00Z")), "Tuesday 06:59");
        assert!(!s.asleep_at(utc("2026-12-08T06:00:00Z")), "Tuesday 07:00");
        assert!(s.asleep_at(utc("2026-12-12T12:00:00Z")), "Saturday noon");
        assert!(s.asleep_at(utc("2026-12-14T05:00:00Z")), "Monday 06:00");
        // Summer: Berlin is UTC+2.
        assert!(
            s.asleep_at(utc("2026-07-06T18:30:00Z")),
            "a July Monday 20:30"
        );
        assert!(
            !s.asleep_at(utc("2026-07-06T17:30:00Z")),
            "a July Monday 19:30"
        );
    }

    #[test]
    fn the_share_asleep_counts_nights_and_the_weekend() {
        let s = schedule("0 20 * * 1-5", "0 7 * * 1-5", "UTC");
        // Awake 07–20 on five days: 65 of 168 hours.
        let share = s.asleep_share(utc("2026-12-07T00:00:00Z"));
        assert_eq!(share, 103 * 1_000_000 / 168);
        assert_eq!(
            s.asleep_share(utc("2026-12-09T13:17:00Z")),
            share,
            "any week"
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        let bad = |sleep: &str, wake: &str, zone: &str| {
            Schedule::new(&ScheduleSpec {
                sleep: sleep.into(),
                wake: wake.into(),
                time_zone: zone.into(),
            })
            .unwrap_err()
        };
        assert_eq!(bad("0 20 * *", "0 7 * * *", "UTC").0, "sleep");
        assert_eq!(bad("0 20 * * *", "61 7 * * *", "UTC").0, "wake");
        assert_eq!(bad("0 20 * * *", "0 7 * * *", "Mars/Olympus").0, "timeZone");
        assert_eq!(bad("0 20 1 1 *", "0 7 * * *", "UTC").0, "sleep");
        assert!(
            bad("0 20 * * 5-1", "0 7 * * *", "UTC")
                .1
                .contains("backwards")
        );
    }

    #[test]
    fn steps_lists_and_sunday_as_seven_parse() {
        let c = Cron::parse("*/15 8,20 * * 7").unwrap();
        let sunday: DateTime = "2026-12-06T20:45".parse().unwrap();
        assert!(c.matches(sunday));
        let monday: DateTime = "2026-12-07T20:45".parse().unwrap();
        assert!(!c.matches(monday));
        assert!(!c.matches("2026-12-06T20:44".parse().unwrap()));
    }
}
