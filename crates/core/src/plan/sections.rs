//! The diffs of the sections with rules of their own: database (engine, version, storage),
//! storage (buckets by name) and custom components (kind, function, template, inputs).

use std::collections::{BTreeMap, BTreeSet};

use super::Effect;
use super::diff::Diff;
use crate::custom::{CustomComponentSpec, Kind};
use crate::spec::{DatabaseSpec, StorageSpec};

/// What the spec says of a custom component. Whether a CloudFormation change replaces
/// resources is the stack's own answer (its change set), not the spec's.
pub(crate) fn diff_custom(d: &mut Diff, a: &CustomComponentSpec, b: &CustomComponentSpec) {
    use Effect::*;
    let at = format!("spec.components[{}]", b.name);
    let kind = |c: &CustomComponentSpec| match c.kind() {
        Some(Kind::CloudFormation(_)) => "cloudFormation",
        Some(Kind::Lambda(_)) => "lambda",
        None => "none",
    };
    d.field(
        &format!("{at}.kind"),
        &kind(a),
        &kind(b),
        Replace,
        "the old kind's resources are destroyed and the new kind's made",
    );
    if let (Some(Kind::Lambda(x)), Some(Kind::Lambda(y))) = (a.kind(), b.kind()) {
        d.field(
            &format!("{at}.lambda.functionArn"),
            &x.function_arn,
            &y.function_arn,
            Replace,
            "another function owns other resources",
        );
    }
    if let (Some(Kind::CloudFormation(x)), Some(Kind::CloudFormation(y))) = (a.kind(), b.kind()) {
        let why = "a stack update (its change set says what it replaces)";
        d.field(
            &format!("{at}.cloudFormation.template"),
            &x.template,
            &y.template,
            InPlace,
            why,
        );
        d.field(
            &format!("{at}.cloudFormation.templateUrl"),
            &x.template_url,
            &y.template_url,
            InPlace,
            why,
        );
    }
    let names: BTreeSet<&String> = a.inputs.keys().chain(b.inputs.keys()).collect();
    for name in names {
        d.field(
            &format!("{at}.inputs.{}", crate::spec::path_key(name)),
            &a.inputs.get(name),
            &b.inputs.get(name),
            InPlace,
            "new inputs, applied by the component's own update",
        );
    }
    d.field(
        &format!("{at}.dependsOn"),
        &a.depends_on,
        &b.depends_on,
        InPlace,
        "only the order of the steps changes",
    );
}

pub(crate) fn diff_database(d: &mut Diff, a: &DatabaseSpec, b: &DatabaseSpec) {
    use Effect::*;
    d.field(
        "spec.database.engine",
        &a.engine,
        &b.engine,
        Replace,
        "RDS cannot change engine",
    );
    let (effect, why) = if a.engine != b.engine {
        (Replace, "the new engine's version, on a new instance")
    } else if numeric(&b.engine_version) >= numeric(&a.engine_version) {
        (InPlace, "ModifyDBInstance with AllowMajorVersionUpgrade")
    } else {
        (Replace, "RDS cannot downgrade an engine")
    };
    d.field(
        "spec.database.engineVersion",
        &a.engine_version,
        &b.engine_version,
        effect,
        why,
    );
    let (effect, why) = if b.storage_gib >= a.storage_gib {
        (InPlace, "ModifyDBInstance")
    } else {
        (Replace, "RDS storage cannot shrink")
    };
    d.field(
        "spec.database.storageGiB",
        &a.storage_gib,
        &b.storage_gib,
        effect,
        why,
    );
    d.field(
        "spec.database.instanceClass",
        &a.instance_class,
        &b.instance_class,
        InPlace,
        "ModifyDBInstance",
    );
    d.field(
        "spec.database.multiAz",
        &a.multi_az,
        &b.multi_az,
        InPlace,
        "ModifyDBInstance",
    );
    d.field(
        "spec.database.backupRetentionDays",
        &a.backup_retention_days,
        &b.backup_retention_days,
        InPlace,
        "ModifyDBInstance",
    );
    d.field(
        "spec.database.onDelete",
        &a.on_delete,
        &b.on_delete,
        InPlace,
        "a policy, not a resource",
    );
    d.field(
        "spec.database.restoreFrom",
        &a.restore_from,
        &b.restore_from,
        Replace,
        "a database is restored only when it is made: a new instance from the snapshot",
    );
}

pub(crate) fn diff_storage(d: &mut Diff, a: &StorageSpec, b: &StorageSpec) {
    use Effect::*;
    let old: BTreeMap<&str, bool> = a
        .buckets
        .iter()
        .map(|x| (x.name.as_str(), x.versioning))
        .collect();
    let new: BTreeMap<&str, bool> = b
        .buckets
        .iter()
        .map(|x| (x.name.as_str(), x.versioning))
        .collect();
    for name in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        let field = format!("spec.storage.buckets[{name}]");
        match (old.get(name), new.get(name)) {
            (Some(_), None) => d.field(
                &field,
                &Some(name),
                &None,
                Replace,
                "the bucket and its objects would go",
            ),
            (None, Some(_)) => d.field(&field, &None, &Some(name), InPlace, "CreateBucket"),
            (Some(x), Some(y)) => d.field(
                &format!("{field}.versioning"),
                x,
                y,
                InPlace,
                "PutBucketVersioning",
            ),
            (None, None) => {}
        }
    }
    d.field(
        "spec.storage.onDelete",
        &a.on_delete,
        &b.on_delete,
        InPlace,
        "a policy, not a resource",
    );
}

fn numeric(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}
