//! The settings of how an environment lives: a preview's base, its sleep schedule, its
//! budget and its sync.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PreviewSpec {
    /// The environment this preview was made from.
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = crate::MAX_ENVIRONMENT_NAME))
    )]
    pub base: String,
    /// What it shares with its base.
    #[serde(default)]
    pub share: Share,
    /// Its own database: restored from a snapshot of the base's taken for it, or empty.
    #[serde(default)]
    pub database: PreviewDatabase,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Share {
    /// The base's network and cluster: the preview is a namespace on it (no EKS cost).
    #[default]
    Cluster,
    /// Nothing: a full copy of the base's layers.
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum PreviewDatabase {
    /// Restored from a snapshot of the base's database taken when the preview is made.
    #[default]
    Snapshot,
    /// A new, empty database.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// When to sleep: a five-field cron expression, such as `0 20 * * 1-5`.
    pub sleep: String,
    /// When to wake, such as `0 7 * * 1-5`.
    pub wake: String,
    /// The IANA time zone both are read in, such as `Europe/Berlin`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BudgetSpec {
    /// Whole US dollars a month, at the shipped price table's list prices (above 0).
    #[serde(rename = "monthlyUSD")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub monthly_usd: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// How often the sync looks: a duration from `1m` to `24h`.
    #[serde(default = "default_sync_every")]
    pub every: String,
    /// What the sync does when the cloud differs from the spec.
    #[serde(default)]
    pub drift: DriftPolicy,
    /// What the sync does when a newer image satisfies a service's `version`.
    #[serde(default)]
    pub images: ImagePolicy,
}

impl Default for SyncSpec {
    fn default() -> Self {
        Self {
            every: default_sync_every(),
            drift: DriftPolicy::default(),
            images: ImagePolicy::default(),
        }
    }
}

impl SyncSpec {
    /// Seconds between two syncs: `every` read as a duration, else
    /// [`DEFAULT_SYNC_EVERY_SECONDS`] (apply validates `every`; the default covers a spec
    /// stored before that rule existed).
    pub fn every_seconds(&self) -> u64 {
        crate::parse_duration(&self.every).unwrap_or(DEFAULT_SYNC_EVERY_SECONDS)
    }
}

/// The default of `spec.sync.every`, in seconds: 15 minutes (the `15m` a spec that omits
/// it is given).
pub const DEFAULT_SYNC_EVERY_SECONDS: u64 = 900;

fn default_sync_every() -> String {
    "15m".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum DriftPolicy {
    /// Record it in the status and the history.
    #[default]
    Report,
    /// Start an `up` that puts it back.
    Repair,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ImagePolicy {
    /// Record it in the status and the history.
    #[default]
    Report,
    /// Roll it out.
    Deploy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_every_is_read_as_seconds_with_the_default_behind_it() {
        let sync = |every: &str| SyncSpec {
            every: every.to_owned(),
            ..SyncSpec::default()
        };
        assert_eq!(sync("1h").every_seconds(), 3600);
        assert_eq!(sync("soon").every_seconds(), DEFAULT_SYNC_EVERY_SECONDS);
        assert_eq!(
            SyncSpec::default().every_seconds(),
            DEFAULT_SYNC_EVERY_SECONDS
        );
        assert_eq!(
            crate::parse_duration(&default_sync_every()),
            Some(DEFAULT_SYNC_EVERY_SECONDS),
            "the spec's default and the fallback are one duration"
        );
    }
}
