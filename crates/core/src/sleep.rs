//! What sleep changes (DESIGN.md: "sleep keeps ids"), said once. An `up` of a sleeping
//! environment hands the component handlers [`Environment::asleep`]: the node group scaled
//! to 0, every service at 0 replicas, no NAT gateway (their Elastic IPs are kept, so a wake
//! puts new gateways on the same addresses). The database handler stops the instance (RDS
//! has no spec field for that: it reads the operation's `asleep`). Everything else — the
//! VPC, subnets, cluster, buckets, config, load balancers, DNS records, the database's
//! storage — stays as it is, with its id.
//!
//! What sleeping saves is [`crate::cost::sleep_saving`]; whether a schedule wants the
//! environment asleep is [`crate::schedule`].

use crate::spec::{Environment, NatGateways};
use crate::status::{EnvironmentState, EnvironmentStatus};

/// How long a sleep holds before the sync carries it out again: AWS starts a stopped RDS
/// instance by itself after seven days, so a sleep is re-asserted within six.
pub const REASSERT_SECONDS: u64 = 6 * 86_400;

/// What the sync should start for a Ready environment at `now`: `Some(true)` a sleep (its
/// schedule says asleep while it is awake, or a sleep that is due to be re-asserted),
/// `Some(false)` a wake, `None` nothing.
pub fn due(env: &Environment, status: &EnvironmentStatus, now: u64) -> Option<bool> {
    if status.state != EnvironmentState::Ready {
        return None;
    }
    let asleep = status.sleeping;
    let wanted = env
        .spec
        .schedule
        .as_ref()
        .and_then(|s| crate::schedule::Schedule::new(s).ok())
        .map(|s| s.asleep_at(now));
    match (wanted, asleep) {
        (Some(true), None) => Some(true),
        (Some(false), Some(_)) => Some(false),
        (_, Some(s)) if now.saturating_sub(s.asserted_at) >= REASSERT_SECONDS => Some(true),
        _ => None,
    }
}

impl Environment {
    /// The spec the handlers converge a sleeping environment to.
    pub fn asleep(&self) -> Environment {
        let mut slept = self.clone();
        let spec = &mut slept.spec;
        spec.network.nat_gateways = NatGateways::None;
        let group = &mut spec.cluster.node_group;
        group.min_size = 0;
        group.desired_size = 0;
        for service in &mut spec.app.services {
            service.replicas = 0;
        }
        slept
    }
}

/// What sleep saves an environment, at the shipped price table's list prices.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlook {
    /// A whole month asleep.
    pub saves_per_month_asleep: f64,
    /// With `spec.schedule`: the share of the week starting `now` it sleeps, in percent
    /// (to a tenth), and what that saves a month.
    pub scheduled_percent: Option<f64>,
    pub schedule_saves: Option<f64>,
}

/// What sleeping saves `env`, and what its schedule (if any) saves.
pub fn outlook(env: &Environment, now: u64) -> Outlook {
    let share = env
        .spec
        .schedule
        .as_ref()
        .and_then(|s| crate::schedule::Schedule::new(s).ok())
        .map(|s| s.asleep_share(now));
    Outlook {
        saves_per_month_asleep: crate::cost::sleep_saving(env, 1_000_000),
        scheduled_percent: share.map(|s| (s / 1_000) as f64 / 10.0),
        schedule_saves: share.map(|s| crate::cost::sleep_saving(env, s)),
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{Environment, NatGateways};

    #[test]
    fn the_schedule_and_the_seven_day_restart_say_when_to_sleep_or_wake() {
        use crate::status::{EnvironmentState, EnvironmentStatus, Sleeping};
        let text = include_str!("../../../examples/staging.yaml");
        let mut env = Environment::parse(text).unwrap();
        let ready = EnvironmentStatus::new(EnvironmentState::Ready, "", 0);
        let asleep = |since| EnvironmentStatus {
            sleeping: Some(Sleeping {
                since,
                asserted_at: since,
            }),
            ..ready.clone()
        };
        // 2026-12-07 is a Monday: 12:00 and 22:00 UTC.
        let (noon, night) = (1_796_040_000, 1_796_076_000);
        assert_eq!(super::due(&env, &ready, noon), None, "no schedule, awake");
        assert_eq!(super::due(&env, &asleep(noon), noon + 86_400), None);
        assert_eq!(
            super::due(&env, &asleep(noon), noon + super::REASSERT_SECONDS),
            Some(true),
            "a sleep is carried out again before AWS restarts the database"
        );
        env.spec.schedule = Some(crate::spec::ScheduleSpec {
            sleep: "0 20 * * 1-5".into(),
            wake: "0 7 * * 1-5".into(),
            time_zone: "UTC".into(),
        });
        assert_eq!(super::due(&env, &ready, noon), None);
        assert_eq!(super::due(&env, &ready, night), Some(true));
        assert_eq!(super::due(&env, &asleep(night), night + 60), None);
        assert_eq!(super::due(&env, &asleep(night), noon + 86_400), Some(false));
        let failed = EnvironmentStatus::new(EnvironmentState::Failed, "", 0);
        assert_eq!(super::due(&env, &failed, night), None, "only Ready changes");
    }

    #[test]
    fn asleep_scales_to_zero_and_drops_nat_keeping_everything_else() {
        let text = include_str!("../../../examples/staging.yaml");
        let env = Environment::parse(text).unwrap();
        let slept = env.asleep();
        assert_eq!(slept.spec.network.nat_gateways, NatGateways::None);
        assert_eq!(slept.spec.cluster.node_group.desired_size, 0);
        assert_eq!(slept.spec.cluster.node_group.min_size, 0);
        assert_eq!(
            slept.spec.cluster.node_group.max_size,
            env.spec.cluster.node_group.max_size
        );
        assert!(slept.spec.app.services.iter().all(|s| s.replicas == 0));
        // The rest is the same spec.
        let mut back = slept.clone();
        back.spec.network.nat_gateways = env.spec.network.nat_gateways;
        back.spec.cluster.node_group = env.spec.cluster.node_group.clone();
        back.spec.app = env.spec.app.clone();
        assert_eq!(back, env);
    }
}
