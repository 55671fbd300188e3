//! Semantic rules for a well-shaped [`Environment`]. Every rule reports its field path and
//! every violated rule is reported, not only the first.
//!
//! Length limits come from the AWS names Strata derives from the environment's name:
//! `strata-<env>-<bucket>` must fit S3's 63 characters, and the RDS identifier
//! `strata-<env>` must fit 63; keeping environment names to 24 leaves room for both.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::spec::{Environment, FieldError};
use crate::{API_VERSION, KIND};

pub const MAX_ENVIRONMENT_NAME: usize = 24;
pub const MAX_SERVICE_NAME: usize = 30;
const MAX_BUCKET_NAME: usize = 63;
/// How many of each list a spec may hold: what makes "the largest spec the API accepts" a
/// definite one, which the quota tests build (state data, Lambda payloads, item sizes).
pub const MAX_SERVICES: usize = 25;
pub const MAX_ENV_VARS: usize = 50;
pub const MAX_BUCKETS: usize = 25;
pub const MAX_CUSTOM_COMPONENTS: usize = 25;

pub fn validate(env: &Environment) -> Vec<FieldError> {
    let mut v = Errors::default();
    if env.api_version != API_VERSION {
        v.push("apiVersion", format!("must be {API_VERSION}"));
    }
    if env.kind != KIND {
        v.push("kind", format!("must be {KIND}"));
    }
    if let Err(message) = check_environment_name(&env.metadata.name) {
        v.push("metadata.name", message);
    }
    for (key, value) in &env.metadata.labels {
        if key.is_empty() || key.len() > 63 || value.len() > 63 {
            v.push(
                format!("metadata.labels.{key}"),
                "keys must be 1 to 63 characters and values at most 63",
            );
        }
    }
    // The team names a secret prefix (`<prefix><team>/`) and is matched against IAM tags.
    if let Some(team) = env.team()
        && !is_dns_label(team)
    {
        v.push(
            format!("metadata.labels.{}", crate::teams::TEAM_LABEL),
            "a team is a DNS label: lowercase letters, digits and '-', 1 to 63 characters",
        );
    }

    let spec = &env.spec;
    if !is_region(&spec.region) {
        v.push("spec.region", "must be an AWS region such as eu-west-1");
    }

    let net = &spec.network;
    if !(2..=6).contains(&net.az_count) {
        v.push(
            "spec.network.azCount",
            "must be between 2 and 6 (EKS needs two AZs)",
        );
    }
    match parse_cidr(&net.cidr) {
        Err(message) => v.push("spec.network.cidr", message),
        Ok((_, prefix)) => {
            // One public and one private subnet per AZ, each at least a /28.
            let subnets = 2 * u32::from(net.az_count.max(1));
            let extra_bits = 32 - (subnets - 1).leading_zeros();
            if u32::from(prefix) + extra_bits > 28 {
                v.push(
                    "spec.network.cidr",
                    format!("a /{prefix} cannot hold {subnets} subnets of at least /28"),
                );
            }
        }
    }

    let cluster = &spec.cluster;
    if !is_kubernetes_version(&cluster.version) {
        v.push(
            "spec.cluster.version",
            "must be a Kubernetes MAJOR.MINOR such as \"1.31\"",
        );
    }
    let ng = &cluster.node_group;
    if ng.instance_types.is_empty() {
        v.push(
            "spec.cluster.nodeGroup.instanceTypes",
            "must name at least one instance type",
        );
    }
    for (i, t) in ng.instance_types.iter().enumerate() {
        if !is_instance_type(t, "") {
            v.push(
                format!("spec.cluster.nodeGroup.instanceTypes[{i}]"),
                "must be an EC2 instance type such as t3.medium",
            );
        }
    }
    if !(1..=450).contains(&ng.max_size) {
        v.push(
            "spec.cluster.nodeGroup.maxSize",
            "must be between 1 and 450",
        );
    }
    if ng.min_size > ng.max_size {
        v.push("spec.cluster.nodeGroup.minSize", "must not exceed maxSize");
    }
    if ng.desired_size < ng.min_size || ng.desired_size > ng.max_size {
        v.push(
            "spec.cluster.nodeGroup.desiredSize",
            "must be between minSize and maxSize",
        );
    }
    if !(20..=16384).contains(&ng.disk_gib) {
        v.push(
            "spec.cluster.nodeGroup.diskGib",
            "must be between 20 and 16384",
        );
    }

    if let Some(db) = &spec.database {
        if db.engine_version.is_empty()
            || !db
                .engine_version
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            v.push(
                "spec.database.engineVersion",
                "must be a version such as 16.4",
            );
        }
        if !is_instance_type(&db.instance_class, "db.") {
            v.push(
                "spec.database.instanceClass",
                "must be an RDS instance class such as db.t4g.micro",
            );
        }
        if !(20..=65536).contains(&db.storage_gib) {
            v.push("spec.database.storageGiB", "must be between 20 and 65536");
        }
        if db.backup_retention_days > 35 {
            v.push(
                "spec.database.backupRetentionDays",
                "must be between 0 and 35",
            );
        }
        if let Some(from) = &db.restore_from
            && from != crate::snapshots::LATEST
            && !crate::snapshots::is_snapshot_id(from)
        {
            v.push(
                crate::snapshots::FIELD,
                "must be `latest` or a DB snapshot identifier (a letter, then letters, digits and single hyphens; at most 255)",
            );
        }
    }

    if let Some(storage) = &spec.storage {
        if storage.buckets.len() > MAX_BUCKETS {
            v.push(
                "spec.storage.buckets",
                format!(
                    "at most {MAX_BUCKETS} buckets (the environment has {})",
                    storage.buckets.len()
                ),
            );
        }
        if storage.buckets.is_empty() {
            v.push(
                "spec.storage.buckets",
                "must list at least one bucket (or omit storage)",
            );
        }
        let mut seen = BTreeSet::new();
        for (i, bucket) in storage.buckets.iter().enumerate() {
            let path = format!("spec.storage.buckets[{i}].name");
            let full = format!("strata-{}-{}", env.metadata.name, bucket.name);
            if !is_dns_label(&bucket.name) {
                v.push(&path, "must be lowercase letters, digits and hyphens");
            } else if full.len() > MAX_BUCKET_NAME {
                v.push(
                    &path,
                    format!(
                        "the bucket name {full} is longer than S3's {MAX_BUCKET_NAME} characters"
                    ),
                );
            }
            if !seen.insert(&bucket.name) {
                v.push(&path, "is used by another bucket");
            }
        }
    }

    let services = &spec.app.services;
    if services.is_empty() {
        v.push("spec.app.services", "must list at least one service");
    }
    if services.len() > MAX_SERVICES {
        v.push(
            "spec.app.services",
            format!(
                "at most {MAX_SERVICES} services (the environment has {})",
                services.len()
            ),
        );
    }
    if spec.components.len() > MAX_CUSTOM_COMPONENTS {
        v.push(
            "spec.components",
            format!(
                "at most {MAX_CUSTOM_COMPONENTS} custom components (the environment has {})",
                spec.components.len()
            ),
        );
    }
    let mut names = BTreeSet::new();
    for (i, svc) in services.iter().enumerate() {
        let at = |field: &str| format!("spec.app.services[{i}].{field}");
        if !is_dns_label(&svc.name) || svc.name.len() > MAX_SERVICE_NAME {
            v.push(
                at("name"),
                format!("must be a DNS label of at most {MAX_SERVICE_NAME} characters"),
            );
        }
        if !names.insert(&svc.name) {
            v.push(at("name"), "is used by another service");
        }
        if let Err(message) = check_image(&svc.image) {
            v.push(at("image"), message);
        }
        if let Err(e) = semver::VersionReq::parse(&svc.version) {
            v.push(
                at("version"),
                format!("must be a semver constraint such as ^1.4: {e}"),
            );
        }
        if svc.port == 0 {
            v.push(at("port"), "must be between 1 and 65535");
        }
        if svc.replicas > 100 {
            v.push(at("replicas"), "must be between 0 and 100");
        }
        if svc.env.len() > MAX_ENV_VARS {
            v.push(
                at("env"),
                format!(
                    "at most {MAX_ENV_VARS} variables (the service has {})",
                    svc.env.len()
                ),
            );
        }
        let mut env_names = BTreeSet::new();
        for (j, var) in svc.env.iter().enumerate() {
            let at = |field: &str| format!("spec.app.services[{i}].env[{j}].{field}");
            if !is_env_var_name(&var.name) {
                v.push(at("name"), "must be a C identifier such as LOG_LEVEL");
            }
            if !env_names.insert(&var.name) {
                v.push(at("name"), "is set twice");
            }
            match (&var.value, &var.secret_arn, &var.from_output) {
                (Some(_), None, None) | (None, None, Some(_)) => {}
                (None, Some(arn), None) if !is_secret_arn(arn) => v.push(
                    at("secretArn"),
                    "must be a Secrets Manager ARN (arn:aws:secretsmanager:...)",
                ),
                (None, Some(_), None) => {}
                _ => v.push(
                    at("value"),
                    "set exactly one of value, secretArn and fromOutput",
                ),
            }
        }
        if let Some(command) = &svc.migrate {
            if command.is_empty() || command.iter().any(String::is_empty) {
                v.push(
                    at("migrate"),
                    "must be a non-empty command with no empty arguments",
                );
            }
        }
    }
    let public = services.iter().filter(|s| s.public).count();
    if public > 1 {
        v.push("spec.app.services", "at most one service may be public");
    }

    if let Some(dns) = &spec.dns {
        if !is_domain(&dns.zone) {
            v.push("spec.dns.zone", "must be a domain name such as example.com");
        }
        if !is_domain(&dns.name) {
            v.push(
                "spec.dns.name",
                "must be a domain name such as staging.example.com",
            );
        } else if dns.name != dns.zone && !dns.name.ends_with(&format!(".{}", dns.zone)) {
            v.push(
                "spec.dns.name",
                format!("must be inside the zone {}", dns.zone),
            );
        }
        if public == 0 {
            v.push("spec.dns", "needs one public service to point at");
        }
    }

    match parse_duration(&spec.sync.every) {
        Some(s) if (60..=86_400).contains(&s) => {}
        _ => v.push(
            "spec.sync.every",
            "must be a duration between 1m and 24h, such as 15m",
        ),
    }
    if let Some(ttl) = &spec.ttl {
        match parse_duration(ttl) {
            Some(s) if (600..=90 * 86_400).contains(&s) => {}
            _ => v.push(
                "spec.ttl",
                "must be a duration between 10m and 90d, such as 72h",
            ),
        }
    }
    if let Some(preview) = &spec.preview {
        if spec.ttl.is_none() {
            v.push("spec.ttl", "a preview must have a TTL, such as 4h");
        }
        if let Err(m) = crate::check_environment_name(&preview.base) {
            v.push("spec.preview.base", m);
        }
        if preview.base == env.metadata.name {
            v.push("spec.preview.base", "a preview cannot be its own base");
        }
    }
    if let Some(schedule) = &spec.schedule
        && let Err((field, message)) = crate::schedule::Schedule::new(schedule)
    {
        v.push(format!("spec.schedule.{field}"), message);
    }
    if spec.budget.as_ref().is_some_and(|b| b.monthly_usd == 0) {
        v.push(
            "spec.budget.monthlyUSD",
            "must be a whole number of dollars above 0, such as 300",
        );
    }
    crate::custom::validate(env, &mut v.0);
    crate::post_deploy::validate(env, &mut v.0);
    v.0
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }
}

/// Checks an environment name: a DNS label that starts with a letter, at most
/// [`MAX_ENVIRONMENT_NAME`] characters, no `--` (RDS identifiers forbid it).
pub fn check_environment_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_ENVIRONMENT_NAME {
        return Err(format!("must be 1 to {MAX_ENVIRONMENT_NAME} characters"));
    }
    if !is_dns_label(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(
            "must be lowercase letters, digits and hyphens, starting with a letter".to_owned(),
        );
    }
    if name.contains("--") {
        return Err("must not contain two hyphens in a row".to_owned());
    }
    Ok(())
}

/// Parses `15m`, `72h`, `1h30m`, `7d`, `45s` into seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    digits.is_empty().then_some(total)
}

/// The VPC's subnets: `az_count` public then `az_count` private, each an equal slice of the
/// VPC's CIDR (the smallest power of two that holds them all). `None` if the CIDR is invalid
/// or too small (validation refuses such specs).
pub fn subnet_cidrs(vpc_cidr: &str, az_count: u8) -> Option<(Vec<String>, Vec<String>)> {
    let (addr, prefix) = parse_cidr(vpc_cidr).ok()?;
    let count = 2 * u32::from(az_count.max(1));
    let extra_bits = 32 - (count - 1).leading_zeros();
    let sub_prefix = u32::from(prefix) + extra_bits;
    if sub_prefix > 28 {
        return None;
    }
    let size = 1u32 << (32 - sub_prefix);
    let cidr = |i: u32| {
        format!(
            "{}/{sub_prefix}",
            Ipv4Addr::from(u32::from(addr) + i * size)
        )
    };
    let n = u32::from(az_count);
    Some(((0..n).map(cidr).collect(), (n..2 * n).map(cidr).collect()))
}

fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, prefix) = text
        .split_once('/')
        .ok_or("must be an IPv4 CIDR such as 10.40.0.0/16")?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| "must be an IPv4 CIDR such as 10.40.0.0/16")?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| "must be an IPv4 CIDR such as 10.40.0.0/16")?;
    if !(16..=24).contains(&prefix) {
        return Err(
            "the prefix must be between /16 and /24 (what a VPC allows, with room for subnets)"
                .to_owned(),
        );
    }
    let host_bits = u32::from(addr) & (u32::MAX >> prefix);
    if host_bits != 0 {
        return Err(format!("{addr} has host bits set for a /{prefix}"));
    }
    Ok((addr, prefix))
}

fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn is_kubernetes_version(text: &str) -> bool {
    match text.split_once('.') {
        Some((major, minor)) => {
            major == "1"
                && !minor.is_empty()
                && minor.len() <= 2
                && minor.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn is_instance_type(text: &str, prefix: &str) -> bool {
    let Some(rest) = text.strip_prefix(prefix) else {
        return false;
    };
    match rest.split_once('.') {
        Some((family, size)) => {
            !family.is_empty()
                && !size.is_empty()
                && family.starts_with(|c: char| c.is_ascii_lowercase())
                && family
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && size
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
        None => false,
    }
}

/// RFC 1123 label: 1–63 of `[a-z0-9-]`, not starting or ending with `-`.
pub fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && !text.starts_with('-')
        && !text.ends_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_domain(text: &str) -> bool {
    text.len() <= 253 && text.contains('.') && text.split('.').all(is_dns_label)
}

fn is_env_var_name(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_secret_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "secretsmanager"
        && parts[5].starts_with("secret:")
}

fn check_image(image: &str) -> Result<(), &'static str> {
    if image.is_empty() || image.len() > 255 || image.chars().any(char::is_whitespace) {
        return Err(
            "must be an image repository such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api",
        );
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        return Err("must not carry a tag or digest: the tag is chosen by version");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("7d"), Some(604_800));
        for bad in ["", "m", "15", "1x", "-1h", "1.5h", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        assert!(parse_cidr("10.40.0.0/16").is_ok());
        assert!(parse_cidr("10.40.1.0/16").is_err());
        assert!(parse_cidr("10.40.0.0/8").is_err());
        assert!(parse_cidr("10.400.0.0/16").is_err());
    }

    #[test]
    fn subnets_slice_the_vpc_without_overlap() {
        let (public, private) = subnet_cidrs("10.40.0.0/16", 2).unwrap();
        assert_eq!(public, ["10.40.0.0/18", "10.40.64.0/18"]);
        assert_eq!(private, ["10.40.128.0/18", "10.40.192.0/18"]);
        let (public, private) = subnet_cidrs("10.60.0.0/24", 3).unwrap();
        assert_eq!(public, ["10.60.0.0/27", "10.60.0.32/27", "10.60.0.64/27"]);
        assert_eq!(private[2], "10.60.0.160/27");
        assert_eq!(
            subnet_cidrs("10.60.0.0/24", 6).unwrap().1[5],
            "10.60.0.176/28"
        );
        assert!(subnet_cidrs("10.60.0.0/25", 6).is_none());
    }

    #[test]
    fn names() {
        assert!(check_environment_name("staging").is_ok());
        assert!(check_environment_name("pr-1234").is_ok());
        for bad in [
            "",
            "1abc",
            "Staging",
            "a--b",
            "a-",
            "abcdefghijklmnopqrstuvwxy",
        ] {
            assert!(check_environment_name(bad).is_err(), "{bad}");
        }
    }
}
