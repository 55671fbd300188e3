//! Previews made from a base environment: the base's applied spec cloned under a new name
//! with overrides (`--set spec.app.services[api].version=2.4.0-pr.42`), a TTL, the DNS name
//! under the base's zone, disposable data (`onDelete: delete`) and, for a full copy, a VPC
//! CIDR that overlaps no other environment's. `spec.preview` records the base and what is
//! shared: with `share: cluster` the preview has no network or cluster of its own
//! ([`Environment::includes`]) and runs in its own namespace on the base's cluster.

use serde_json::Value;

use crate::spec::{
    DatabaseOnDelete, Environment, FieldError, PreviewSpec, Share, SpecError, StorageOnDelete,
};

/// The preview `name` of `base`. `taken` are the VPC CIDRs of every other environment.
pub fn make(
    base: &Environment,
    name: &str,
    ttl: &str,
    preview: PreviewSpec,
    set: &[(String, String)],
    taken: &[&str],
) -> Result<Environment, SpecError> {
    let mut env = base.clone();
    env.metadata.name = name.to_owned();
    let spec = &mut env.spec;
    spec.ttl = Some(ttl.to_owned());
    spec.schedule = None;
    if let Some(dns) = &mut spec.dns {
        dns.name = format!("{name}.{}", dns.zone);
    }
    if let Some(db) = &mut spec.database {
        db.restore_from = None;
        db.on_delete = DatabaseOnDelete::Delete;
    }
    if let Some(storage) = &mut spec.storage {
        storage.on_delete = StorageOnDelete::Delete;
    }
    if preview.share == Share::None {
        spec.network.cidr = free_cidr(taken).ok_or_else(|| {
            SpecError::Invalid(vec![FieldError::new(
                "spec.network.cidr",
                "every 10.x.0.0/16 overlaps another environment's VPC",
            )])
        })?;
    }
    spec.preview = Some(preview);
    let mut tree = env.to_json();
    let mut errors = Vec::new();
    for (path, value) in set {
        if let Err(message) = set_path(&mut tree, path, value) {
            errors.push(FieldError::new(path.clone(), message));
        }
    }
    if !errors.is_empty() {
        return Err(SpecError::Invalid(errors));
    }
    Environment::from_value(tree)
}

/// Sets `path` (`spec.a.b[name].c`: a list element chosen by its `name`, or by its index)
/// to `value` (JSON if it reads as JSON, else a string).
fn set_path(tree: &mut Value, path: &str, value: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix("spec.") else {
        return Err("only fields under spec. can be set".to_owned());
    };
    if rest == "preview" || rest.starts_with("preview.") {
        return Err("spec.preview is set by the preview itself".to_owned());
    }
    let mut node = tree.get_mut("spec").ok_or("no spec")?;
    let segments: Vec<&str> = rest.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let (key, select) = match segment.split_once('[') {
            Some((key, sel)) => (key, Some(sel.strip_suffix(']').ok_or("unclosed [")?)),
            None => (*segment, None),
        };
        let last = i + 1 == segments.len();
        let object = node.as_object_mut().ok_or("no such field")?;
        if last && select.is_none() {
            let parsed = serde_json::from_str(value).unwrap_or_else(|_| value.into());
            object.insert(key.to_owned(), parsed);
            return Ok(());
        }
        node = object.get_mut(key).ok_or("no such field")?;
        if let Some(select) = select {
            let list = node.as_array_mut().ok_or("not a list")?;
            let index = match select.parse::<usize>() {
                Ok(i) => Some(i),
                Err(_) => list.iter().position(|e| e["name"] == select),
            };
            node = index
                .and_then(|i| list.get_mut(i))
                .ok_or_else(|| format!("no element {select}"))?;
        }
    }
    Err("names no field".to_owned())
}

/// An IPv4 CIDR as its first and last address.
fn range(cidr: &str) -> Option<(u32, u32)> {
    let (ip, bits) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
    let size = 1u64 << (32 - bits);
    let start = u32::from(ip) & !((size - 1) as u32);
    Some((start, start + (size - 1) as u32))
}

/// The first `10.x.0.0/16` that overlaps none of `taken`.
pub fn free_cidr(taken: &[&str]) -> Option<String> {
    let taken: Vec<(u32, u32)> = taken.iter().filter_map(|c| range(c)).collect();
    (0..=255u32)
        .map(|x| format!("10.{x}.0.0/16"))
        .find(|candidate| {
            let (a, b) = range(candidate).unwrap_or_default();
            taken.iter().all(|(c, d)| b < *c || *d < a)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PreviewDatabase;

    fn staging() -> Environment {
        Environment::parse(include_str!("../../../examples/staging.yaml")).unwrap()
    }

    fn shared() -> PreviewSpec {
        PreviewSpec {
            base: "staging".into(),
            share: Share::Cluster,
            database: PreviewDatabase::Snapshot,
        }
    }

    #[test]
    fn a_preview_clones_the_base_with_its_overrides_name_dns_and_disposable_data() {
        let set = [(
            "spec.app.services[api].version".to_owned(),
            "2.4.0-pr.42".to_owned(),
        )];
        let env = make(&staging(), "pr-42", "4h", shared(), &set, &[]).unwrap();
        assert_eq!(env.name(), "pr-42");
        assert_eq!(env.spec.ttl.as_deref(), Some("4h"));
        assert_eq!(env.spec.dns.as_ref().unwrap().name, "pr-42.example.com");
        let api = env
            .spec
            .app
            .services
            .iter()
            .find(|s| s.name == "api")
            .unwrap();
        assert_eq!(api.version, "2.4.0-pr.42");
        assert_eq!(
            env.spec.database.as_ref().unwrap().on_delete,
            DatabaseOnDelete::Delete
        );
        assert_eq!(env.shared_from(), Some("staging"));
        assert!(!env.includes(crate::Component::Cluster));
        assert!(!env.includes(crate::Component::Network));
        assert_eq!(env.cluster_name(), "strata-staging");
    }

    #[test]
    fn a_full_copy_gets_a_cidr_no_other_environment_has() {
        let full = PreviewSpec {
            share: Share::None,
            ..shared()
        };
        let taken = ["10.0.0.0/16", "10.1.0.0/20", "10.2.128.0/24"];
        let env = make(&staging(), "pr-43", "4h", full, &[], &taken).unwrap();
        assert_eq!(env.spec.network.cidr, "10.3.0.0/16");
        assert!(env.includes(crate::Component::Cluster));
        assert_eq!(env.cluster_name(), "strata-pr-43");
    }

    #[test]
    fn bad_overrides_and_a_missing_ttl_are_named() {
        let bad = [
            ("spec.app.services[nope].version".to_owned(), "1".to_owned()),
            ("metadata.name".to_owned(), "x".to_owned()),
            (
                "spec.cluster.nodeGroup.desiredSize".to_owned(),
                "\"many\"".to_owned(),
            ),
        ];
        let Err(SpecError::Invalid(errors)) = make(&staging(), "pr-1", "4h", shared(), &bad, &[])
        else {
            panic!("refused")
        };
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["spec.app.services[nope].version", "metadata.name"]);
        let ok = [(
            "spec.cluster.nodeGroup.desiredSize".to_owned(),
            "\"many\"".to_owned(),
        )];
        let Err(SpecError::Invalid(errors)) = make(&staging(), "pr-1", "4h", shared(), &ok, &[])
        else {
            panic!("refused")
        };
        assert_eq!(errors[0].path, "spec.cluster.nodeGroup.desiredSize");
        let mut env = make(&staging(), "pr-1", "4h", shared(), &[], &[]).unwrap();
        env.spec.ttl = None;
        let paths: Vec<String> = crate::validate::validate(&env)
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["spec.ttl"]);
    }
}
