//! Which team an environment belongs to, and who may act on it.
//!
//! An environment belongs to the team its `metadata.labels.team` names. A caller is an IAM
//! principal whose tags say its team (`strata:team`) and whether it is a platform admin
//! (`strata:admin` = `true`). A caller may act on — read, apply, delete, preview, roll back,
//! sleep, cancel, read the history of — an environment of its own team; an admin on every
//! environment, including those without a team (only an admin may make or change one).
//! Previews carry their base's labels, so they follow the base's team.

use std::collections::BTreeMap;

use crate::Environment;

/// The label that names an environment's team.
pub const TEAM_LABEL: &str = "team";
/// The IAM principal tag that names a caller's team.
pub const TEAM_TAG: &str = "strata:team";
/// The IAM principal tag (`true`) of the platform team, who may act on every environment.
pub const ADMIN_TAG: &str = "strata:admin";

impl Environment {
    /// The team the environment belongs to (`metadata.labels.team`), if it names one.
    pub fn team(&self) -> Option<&str> {
        self.metadata.labels.get(TEAM_LABEL).map(String::as_str)
    }
}

/// Who called: an IAM principal and what its tags grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller's IAM ARN, as the history records it.
    pub arn: String,
    /// The team its `strata:team` tag names.
    pub team: Option<String>,
    /// Its `strata:admin` tag is `true`.
    pub admin: bool,
}

/// Why a principal may not act on an environment (a 403, naming both sides).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotYourTeam(pub String);

impl Principal {
    /// The principal `arn` with its IAM tags.
    pub fn from_tags(arn: impl Into<String>, tags: &BTreeMap<String, String>) -> Self {
        Self {
            arn: arn.into(),
            team: tags.get(TEAM_TAG).filter(|t| !t.is_empty()).cloned(),
            admin: tags.get(ADMIN_TAG).is_some_and(|v| v == "true"),
        }
    }

    /// An admin: the local stack's own user, whose requests carry no IAM identity.
    pub fn admin(arn: impl Into<String>) -> Self {
        Self {
            arn: arn.into(),
            team: None,
            admin: true,
        }
    }

    /// Whether the principal may see an environment of `team` (listings skip the others).
    pub fn sees(&self, team: Option<&str>) -> bool {
        self.admin || (team.is_some() && team == self.team.as_deref())
    }

    /// Whether the principal may act on the environment `name` of `team`; refused naming
    /// the environment's team and what the principal carries.
    pub fn may_act_on(&self, name: &str, team: Option<&str>) -> Result<(), NotYourTeam> {
        if self.sees(team) {
            return Ok(());
        }
        let carries = match &self.team {
            Some(t) => format!("carries team {t} (tag {TEAM_TAG})"),
            None => format!("carries no {TEAM_TAG} tag"),
        };
        let belongs = match team {
            Some(t) => format!("belongs to team {t}"),
            None => format!(
                "names no team (metadata.labels.{TEAM_LABEL}): only a platform admin \
                 ({ADMIN_TAG}=true) acts on it"
            ),
        };
        Err(NotYourTeam(format!(
            "environment {name} {belongs}; {} {carries}",
            self.arn
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const ARN: &str = "arn:aws:sts::123456789012:assumed-role/payments-dev/alice";

    #[test]
    fn a_team_acts_on_its_own_environments_only() {
        let payments = Principal::from_tags(ARN, &tags(&[(TEAM_TAG, "payments")]));
        assert_eq!(payments.may_act_on("pay", Some("payments")), Ok(()));
        let refused = payments.may_act_on("shop", Some("shop")).unwrap_err().0;
        assert!(refused.contains("belongs to team shop"), "{refused}");
        assert!(refused.contains("carries team payments"), "{refused}");
        assert!(refused.contains(ARN), "{refused}");
        // Without a team only an admin may act on it.
        let teamless = payments.may_act_on("legacy", None).unwrap_err().0;
        assert!(teamless.contains("names no team"), "{teamless}");
    }

    #[test]
    fn an_admin_acts_on_every_environment_and_no_tag_grants_nothing() {
        let admin = Principal::from_tags(ARN, &tags(&[(ADMIN_TAG, "true")]));
        assert_eq!(admin.may_act_on("shop", Some("shop")), Ok(()));
        assert_eq!(admin.may_act_on("legacy", None), Ok(()));
        let nobody = Principal::from_tags(ARN, &tags(&[(ADMIN_TAG, "yes"), (TEAM_TAG, "")]));
        assert!(!nobody.admin);
        assert_eq!(nobody.team, None);
        assert!(nobody.may_act_on("shop", Some("shop")).is_err());
        assert!(nobody.may_act_on("legacy", None).is_err());
    }
}
