//! Choosing an image tag for a service's semver constraint: the newest tag that satisfies
//! it. Tags may carry a `v` prefix; tags that are not semver are ignored; pre-releases count
//! only when the constraint names one for the same version (Cargo's rule, from `semver`).

use semver::{Version, VersionReq};

/// The newest of `tags` satisfying `constraint`, or `None` (also for a bad constraint,
/// which spec validation has already refused).
pub fn newest_satisfying<'a>(
    constraint: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let requirement = VersionReq::parse(constraint).ok()?;
    tags.into_iter()
        .filter_map(|tag| {
            let version = Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()?;
            requirement.matches(&version).then_some((version, tag))
        })
        .max_by(|a, b| a.0.cmp_precedence(&b.0).then_with(|| a.0.cmp(&b.0)))
        .map(|(_, tag)| tag)
}

/// Whether tag `candidate` is a later version than tag `than` (both semver, `v` allowed);
/// false when either is not a version.
pub fn is_newer(candidate: &str, than: &str) -> bool {
    let parse = |tag: &str| Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok();
    match (parse(candidate), parse(than)) {
        (Some(a), Some(b)) => a.cmp_precedence(&b).is_gt(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_newer, newest_satisfying};

    #[test]
    fn newer_is_by_precedence() {
        assert!(is_newer("1.5.0", "v1.4.9"));
        assert!(is_newer("1.5.0", "1.5.0-rc.1"));
        assert!(!is_newer("1.5.0+build.2", "1.5.0"));
        assert!(!is_newer("1.4.0", "1.5.0"));
        assert!(!is_newer("latest", "1.0.0"));
    }

    #[test]
    fn the_newest_matching_tag_wins() {
        let tags = [
            "1.3.9",
            "1.4.0",
            "v1.4.2",
            "1.4.3+build.7",
            "1.5.0-rc.1",
            "2.0.0",
            "latest",
            "1.4",
            "sha-abc",
        ];
        for (constraint, expected) in [
            // Build metadata does not change a version's precedence.
            ("^1.4", Some("1.4.3+build.7")),
            ("~1.4.0", Some("1.4.3+build.7")),
            ("<1.4.3", Some("v1.4.2")),
            ("=1.4.0", Some("1.4.0")),
            (">=1.5.0-rc.1, <2", Some("1.5.0-rc.1")),
            ("^2", Some("2.0.0")),
            ("^3", None),
            ("not a constraint", None),
        ] {
            assert_eq!(
                newest_satisfying(constraint, tags),
                expected,
                "{constraint}"
            );
        }
    }
}
