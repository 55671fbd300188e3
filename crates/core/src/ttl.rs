//! An environment's TTL (`spec.ttl`): how long it lives, and when it runs out.

use crate::spec::Environment;

/// The environment's TTL in seconds: `spec.ttl` read as a duration; `None` without one (or
/// with one that does not parse, which apply refuses).
pub fn seconds(environment: &Environment) -> Option<u64> {
    environment
        .spec
        .ttl
        .as_deref()
        .and_then(crate::parse_duration)
}

/// The expiry rule: an environment's TTL runs out at its creation (`created_at`, when its
/// first spec was stored) plus its TTL (`ttl` seconds, [`seconds`]) plus every extension
/// granted through the API since (`extension` seconds, in all).
pub fn expires_at(created_at: u64, ttl: u64, extension: u64) -> u64 {
    created_at + ttl + extension
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_runs_from_creation_and_every_extension_pushes_it_back() {
        let mut env = Environment::parse(include_str!("../../../examples/staging.yaml")).unwrap();
        assert_eq!(seconds(&env), None, "staging has no TTL");
        env.spec.ttl = Some("4h".into());
        assert_eq!(seconds(&env), Some(4 * 3600));
        assert_eq!(expires_at(1_000, 4 * 3600, 0), 1_000 + 4 * 3600);
        assert_eq!(
            expires_at(1_000, 4 * 3600, 86_400),
            1_000 + 4 * 3600 + 86_400
        );
    }
}
