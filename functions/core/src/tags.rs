//! The tags that mark what Strata owns. Strata never modifies or deletes a resource without
//! them, even when its name matches.

use crate::graph::Component;

pub const ENVIRONMENT: &str = "strata:environment";
pub const COMPONENT: &str = "strata:component";
pub const MANAGED_BY: &str = "strata:managed-by";
pub const MANAGER: &str = "strata";

/// The tags every resource of `component` in `environment` carries.
pub fn for_resource(environment: &str, component: Component) -> [(&'static str, String); 3] {
    [
        (ENVIRONMENT, environment.to_owned()),
        (COMPONENT, component.name().to_owned()),
        (MANAGED_BY, MANAGER.to_owned()),
    ]
}

/// Whether a resource's tags say it belongs to this environment's component.
pub fn is_owned<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    environment: &str,
    component: Component,
) -> bool {
    let wanted = for_resource(environment, component);
    let tags: Vec<(&str, &str)> = tags.into_iter().collect();
    wanted
        .iter()
        .all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_needs_every_tag_with_the_right_values() {
        let owned = [
            ("strata:environment", "staging"),
            ("strata:component", "storage"),
            ("strata:managed-by", "strata"),
            ("team", "shop"),
        ];
        assert!(is_owned(owned, "staging", Component::Storage));
        assert!(!is_owned(owned, "production", Component::Storage));
        assert!(!is_owned(owned, "staging", Component::Database));
        assert!(!is_owned(
            owned[..2].iter().copied(),
            "staging",
            Component::Storage
        ));
        assert!(!is_owned([], "staging", Component::Storage));
    }
}
