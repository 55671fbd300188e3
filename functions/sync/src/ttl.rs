//! The TTL: when an environment expires, the warnings before (once per lead and expiry) and
//! the `environment-down` an expiry starts.

use strata_control::{Launch, Trigger};
use strata_core::Scope;
use strata_core::events::{Notice, TtlWarning};
use strata_store::{Store, StoredSpec, SyncRecord};

use crate::{Flows, Inventory, Notifier, Observer, Outcome, SyncError, Syncer, TagSource};

/// TTL warnings, longest lead first: each is published once per expiry.
pub const TTL_WARNING_LEADS: [u64; 2] = [86_400, 3_600];

/// What the TTL asks of a sync at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TtlCheck {
    /// Nothing to do (`expires_at` when there is a TTL).
    Quiet {
        expires_at: Option<u64>,
    },
    /// A lead time was reached whose warning has not been published for this expiry.
    Warn {
        expires_at: u64,
        lead: u64,
    },
    Expired {
        expires_at: u64,
    },
}

pub(crate) fn ttl_check(spec: &StoredSpec, record: &SyncRecord, now: u64) -> TtlCheck {
    let Some(expires_at) = expires_at(spec, record) else {
        return TtlCheck::Quiet { expires_at: None };
    };
    if now >= expires_at {
        return TtlCheck::Expired { expires_at };
    }
    let left = expires_at - now;
    // The shortest lead reached, unless it (or a shorter one) was already published.
    match TTL_WARNING_LEADS.iter().rev().find(|lead| left <= **lead) {
        Some(&lead) if record.warned_lead.is_none_or(|w| lead < w) => {
            TtlCheck::Warn { expires_at, lead }
        }
        _ => TtlCheck::Quiet {
            expires_at: Some(expires_at),
        },
    }
}

/// When the environment's TTL runs out ([`strata_core::ttl::expires_at`]); `None` without one.
pub fn expires_at(spec: &StoredSpec, record: &SyncRecord) -> Option<u64> {
    let ttl = strata_core::ttl::seconds(&spec.environment)?;
    Some(strata_core::ttl::expires_at(
        record.created_at,
        ttl,
        record.ttl_extension,
    ))
}

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
    /// Carries out a TTL action on a claimed environment: a warning on the bus, or
    /// `environment-down` under a name that is one per expiry (a retry starts nothing twice).
    pub(crate) async fn act(
        &self,
        name: &str,
        action: TtlCheck,
        run: &str,
        now: u64,
    ) -> Result<Outcome, SyncError> {
        let synced = |expires_at, warned| Outcome::Synced {
            expires_at,
            warned,
            updates: Vec::new(),
            rollout: None,
            drift: Vec::new(),
            repair: None,
            resources: None,
            unreadable: Vec::new(),
        };
        match action {
            TtlCheck::Quiet { expires_at } => Ok(synced(expires_at, None)),
            TtlCheck::Warn { expires_at, lead } => {
                let warning = TtlWarning {
                    environment: name.to_owned(),
                    expires_at,
                    lead_seconds: lead,
                    at: now,
                };
                self.publish(&Notice::TtlWarning(warning)).await?;
                Ok(synced(Some(expires_at), Some(lead)))
            }
            TtlCheck::Expired { expires_at } => {
                let launch = Launch {
                    environment: name,
                    trigger: Trigger::Expiry { expires_at },
                    scope: Scope::All,
                    recreate: Vec::new(),
                    message: format!("the TTL ran out at {expires_at}: delete"),
                };
                Ok(match self.start(&launch, run, now).await? {
                    Ok(execution) => Outcome::Expired { execution },
                    Err(holder) => Outcome::Skipped { holder },
                })
            }
        }
    }
}
