//! The tags that mark what Strata owns. Strata never modifies or deletes a resource without
//! them, even when its name matches.
//!
//! Names are not enough: two control planes in one account, or an environment deleted and
//! applied again under the same name, make resources with the same names. Each resource
//! therefore also carries the control plane's stack id and the environment's id, minted at
//! the first `up` of each incarnation ([`crate::status::Incarnation`]); a resource carrying
//! another's is refused. A resource made before these two tags existed carries neither and
//! is still ours by the first three (an upgrade must not orphan what is running).

use serde::{Deserialize, Serialize};

use crate::graph::Component;
use crate::status::Incarnation;

pub const ENVIRONMENT: &str = "strata:environment";
pub const COMPONENT: &str = "strata:component";
pub const MANAGED_BY: &str = "strata:managed-by";
pub const MANAGER: &str = "strata";
pub const CONTROL_PLANE: &str = "strata:control-plane";
pub const ENVIRONMENT_ID: &str = "strata:environment-id";

/// The owner of an environment's resources: its name, and (once minted) the incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<Incarnation>,
}

impl Owner {
    pub fn new(environment: &str, incarnation: Option<&Incarnation>) -> Self {
        Self {
            environment: environment.to_owned(),
            incarnation: incarnation.cloned(),
        }
    }

    /// An owner known by name only: an operation started before incarnations existed.
    pub fn by_name(environment: &str) -> Self {
        Self::new(environment, None)
    }

    /// The tags every resource of `component` carries: the three that find it, and the
    /// incarnation's two.
    pub fn tags(&self, component: Component) -> Vec<(&'static str, String)> {
        let mut tags = base(&self.environment, component).to_vec();
        if let Some(i) = &self.incarnation {
            tags.push((CONTROL_PLANE, i.control_plane.clone()));
            tags.push((ENVIRONMENT_ID, i.id.clone()));
        }
        tags
    }

    /// Whether a resource with `tags` is this owner's `component`; `Err` says whose it is.
    pub fn check<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        component: Component,
    ) -> Result<(), String> {
        self.check_tags(tags, component, true)
    }

    /// [`Owner::check`] for what outlives an incarnation on purpose: the final snapshot an
    /// earlier incarnation's status recorded, which the next `up` of the name restores. The
    /// control plane must still be this one.
    pub fn check_across_incarnations<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        component: Component,
    ) -> Result<(), String> {
        self.check_tags(tags, component, false)
    }

    fn check_tags<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        component: Component,
        same_incarnation: bool,
    ) -> Result<(), String> {
        let tags: Vec<(&str, &str)> = tags.into_iter().collect();
        let value = |key: &str| tags.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        for (key, wanted) in base(&self.environment, component) {
            if value(key) != Some(wanted.as_str()) {
                return Err(match value(key) {
                    Some(found) => format!("its tag {key} is {found:?}, not {wanted:?}"),
                    None => format!("it has no {key} tag"),
                });
            }
        }
        let Some(ours) = &self.incarnation else {
            return Ok(());
        };
        for (key, wanted, whose) in [
            (CONTROL_PLANE, &ours.control_plane, "another control plane"),
            (ENVIRONMENT_ID, &ours.id, "another incarnation of the name"),
        ]
        .into_iter()
        .take(if same_incarnation { 2 } else { 1 })
        {
            match value(key) {
                Some(found) if found != wanted => {
                    return Err(format!(
                        "it belongs to {whose} ({key} {found:?}, this one is {wanted:?})"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn owns<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        component: Component,
    ) -> bool {
        self.check(tags, component).is_ok()
    }
}

impl std::fmt::Display for Owner {
    /// The environment's name: what messages about its resources say.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.environment)
    }
}

/// The three tags that find a component's resources (tag filters use only these, so a
/// resource made before incarnations is still found).
pub fn base(environment: &str, component: Component) -> [(&'static str, String); 3] {
    [
        (ENVIRONMENT, environment.to_owned()),
        (COMPONENT, component.name().to_owned()),
        (MANAGED_BY, MANAGER.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incarnation(control_plane: &str, id: &str) -> Incarnation {
        Incarnation {
            control_plane: control_plane.into(),
            id: id.into(),
            since: 1,
        }
    }

    #[test]
    fn ownership_needs_every_tag_with_the_right_values() {
        let owned = [
            ("strata:environment", "staging"),
            ("strata:component", "storage"),
            ("strata:managed-by", "strata"),
            ("team", "shop"),
        ];
        let staging = Owner::by_name("staging");
        assert!(staging.owns(owned, Component::Storage));
        assert!(!Owner::by_name("production").owns(owned, Component::Storage));
        assert!(!staging.owns(owned, Component::Database));
        assert_eq!(
            staging.check(owned[..2].iter().copied(), Component::Storage),
            Err("it has no strata:managed-by tag".into())
        );
        assert!(!staging.owns([], Component::Storage));
    }

    #[test]
    fn another_control_plane_or_incarnation_is_refused_and_an_untagged_one_adopted() {
        let ours = Owner::new("staging", Some(&incarnation("stack/a", "e-1")));
        let tagged = ours.tags(Component::Database);
        assert_eq!(tagged.len(), 5);
        let as_pairs = |tags: &[(&'static str, String)]| -> Vec<(String, String)> {
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        let check = |owner: &Owner, tags: &[(String, String)]| {
            owner.check(
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                Component::Database,
            )
        };
        assert_eq!(check(&ours, &as_pairs(&tagged)), Ok(()));
        // Made before incarnations: the three tags only.
        let legacy = as_pairs(&base("staging", Component::Database));
        assert_eq!(check(&ours, &legacy), Ok(()));
        let other_stack = Owner::new("staging", Some(&incarnation("stack/b", "e-1")));
        let refused = check(&other_stack, &as_pairs(&tagged)).unwrap_err();
        assert!(refused.contains("another control plane"), "{refused}");
        let reused_name = Owner::new("staging", Some(&incarnation("stack/a", "e-2")));
        let refused = check(&reused_name, &as_pairs(&tagged)).unwrap_err();
        assert!(refused.contains("another incarnation"), "{refused}");
        assert!(refused.contains("\"e-1\""), "{refused}");
        // A snapshot an earlier incarnation recorded is restored; another stack's is not.
        let pairs = as_pairs(&tagged);
        let pairs = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        assert_eq!(
            reused_name.check_across_incarnations(pairs(), Component::Database),
            Ok(())
        );
        assert!(
            other_stack
                .check_across_incarnations(pairs(), Component::Database)
                .is_err()
        );
    }
}
