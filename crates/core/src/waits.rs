//! How long a step waits before it looks again (DESIGN, "Poll intervals"). A handler names
//! what it waits on; AWS's typical duration for that thing sets the schedule: half of the
//! expected time left, in whole poll intervals, so a 12-minute EKS create polls nine times
//! and the last looks come one interval apart near its expected end. Past the
//! expected end it polls every interval, backing off to four once it runs long.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A slow thing AWS does that a step waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Awaited {
    NatGatewayCreate,
    NatGatewayDelete,
    ClusterCreate,
    ClusterDelete,
    NodeGroupCreate,
    NodeGroupDelete,
    DatabaseCreate,
    DatabaseDelete,
    LoadBalancerCreate,
    DnsChange,
}

impl Awaited {
    /// AWS's typical duration (us-east-1, 2026; deletes from their documented ranges).
    pub fn typical(self) -> Duration {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        match self {
            Awaited::NatGatewayCreate => minutes(2),
            Awaited::NatGatewayDelete => minutes(1),
            Awaited::ClusterCreate => minutes(12),
            Awaited::ClusterDelete => minutes(5),
            Awaited::NodeGroupCreate => minutes(3),
            Awaited::NodeGroupDelete => minutes(5),
            Awaited::DatabaseCreate => minutes(6),
            Awaited::DatabaseDelete => minutes(5),
            Awaited::LoadBalancerCreate => minutes(3),
            Awaited::DnsChange => minutes(1),
        }
    }
}

/// What a component has been waiting on, and for how long in AWS's seconds (the sum of the
/// waits it answered): kept in its status between steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    pub on: Awaited,
    pub waited_seconds: u64,
}

/// The clock an execution runs on: its poll interval, and how many of AWS's seconds one of
/// its seconds stands for (1 on AWS; 0 where everything is made at once, as on the plain
/// local stack, so nothing is worth waiting for beyond one interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub poll_seconds: u64,
    pub scale: u32,
}

impl Clock {
    /// The next wait, in the execution's seconds, of a step waiting on `on` (one poll
    /// interval when it names nothing), and what its status keeps for the step after:
    /// `previous` counts only while it names the same thing.
    pub fn next(self, previous: Option<Waiting>, on: Option<Awaited>) -> (u64, Option<Waiting>) {
        let Some(on) = on else {
            return (self.poll_seconds, None);
        };
        let waited = previous
            .filter(|w| w.on == on)
            .map_or(0, |w| w.waited_seconds);
        let wait = self.wait(on, waited);
        let waiting = Waiting {
            on,
            waited_seconds: waited + wait * u64::from(self.scale),
        };
        (wait, Some(waiting))
    }

    /// The wait, in the execution's seconds, after `waited_seconds` of AWS's on `on`.
    fn wait(self, on: Awaited, waited_seconds: u64) -> u64 {
        let unit = self.poll_seconds * u64::from(self.scale);
        if unit == 0 {
            return self.poll_seconds;
        }
        let expected = on.typical().as_secs();
        let units = match expected.checked_sub(waited_seconds) {
            Some(left) if left > 0 => (left / 2 / unit).max(1),
            _ => (1 + 3 * (waited_seconds - expected) / expected.max(1)).min(4),
        };
        units * self.poll_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: Clock = Clock {
        poll_seconds: 5,
        scale: 1,
    };

    /// Every wait of one create, until `ready` seconds have passed: the seconds of each.
    fn schedule(clock: Clock, on: Awaited, ready: u64) -> Vec<u64> {
        let (mut waiting, mut waits) = (None, Vec::new());
        loop {
            let waited = waiting.map_or(0, |w: Waiting| w.waited_seconds);
            if waited >= ready {
                return waits;
            }
            let (wait, next) = clock.next(waiting, Some(on));
            waits.push(wait);
            waiting = next;
        }
    }

    #[test]
    fn a_create_on_time_polls_rarely_and_finishes_within_one_interval() {
        let waits = schedule(AWS, Awaited::ClusterCreate, 720);
        assert_eq!(waits, [360, 180, 90, 45, 20, 10, 5, 5, 5]);
        assert_eq!(waits.iter().sum::<u64>(), 720);
        // The fixed interval polled 144 times for the same create.
        let dns = schedule(AWS, Awaited::DnsChange, 60);
        assert_eq!(dns, [30, 15, 5, 5, 5]);
    }

    #[test]
    fn a_late_create_backs_off_to_four_intervals() {
        let waits = schedule(AWS, Awaited::NatGatewayCreate, 400);
        assert_eq!(&waits[..6], [60, 30, 15, 5, 5, 5]);
        // Past the expected two minutes: one interval, then longer, never past four.
        assert!(
            waits[6..].iter().all(|&w| (5..=20).contains(&w)),
            "{waits:?}"
        );
        assert!(waits[6..].is_sorted(), "{waits:?}");
        assert_eq!(*waits.last().unwrap(), 20);
    }

    #[test]
    fn nothing_awaited_or_nothing_to_wait_for_is_one_interval() {
        assert_eq!(AWS.next(None, None), (5, None));
        let local = Clock {
            poll_seconds: 1,
            scale: 0,
        };
        assert_eq!(local.next(None, Some(Awaited::ClusterCreate)).0, 1);
        let busy = Clock {
            poll_seconds: 0,
            scale: 1,
        };
        assert_eq!(busy.next(None, Some(Awaited::ClusterCreate)).0, 0);
    }

    #[test]
    fn a_scaled_clock_waits_the_same_share_of_aws_time() {
        let paced = Clock {
            poll_seconds: 1,
            scale: 5,
        };
        let waits = schedule(paced, Awaited::ClusterCreate, 720);
        let aws = schedule(AWS, Awaited::ClusterCreate, 720);
        assert_eq!(waits.iter().map(|w| w * 5).collect::<Vec<_>>(), aws);
    }

    #[test]
    fn waiting_on_something_new_starts_over() {
        let (wait, first) = AWS.next(None, Some(Awaited::ClusterCreate));
        assert_eq!((wait, first.unwrap().waited_seconds), (360, 360));
        let (wait, next) = AWS.next(first, Some(Awaited::NodeGroupCreate));
        assert_eq!((wait, next.unwrap().waited_seconds), (90, 90));
    }
}
