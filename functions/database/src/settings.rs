//! The instance's settings `apply` converges to the spec (class, storage, engine version,
//! multi-AZ, backups, deletion protection, the managed password): what differs, and the one
//! ModifyDBInstance that puts it back.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbInstance;
use strata_core::spec::DatabaseSpec;

/// What differs between the instance and the spec, as one ModifyDBInstance (or None).
/// A setting of the instance that `apply` converges to the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    InstanceClass,
    AllocatedStorage,
    EngineVersion,
    MultiAz,
    BackupRetention,
    DeletionProtection,
    ManagedPassword,
}

impl Setting {
    /// The field's name in DescribeDBInstances, the path drift reports.
    pub(crate) fn field(self) -> &'static str {
        match self {
            Setting::InstanceClass => "dbInstanceClass",
            Setting::AllocatedStorage => "allocatedStorage",
            Setting::EngineVersion => "engineVersion",
            Setting::MultiAz => "multiAZ",
            Setting::BackupRetention => "backupRetentionPeriod",
            Setting::DeletionProtection => "deletionProtection",
            Setting::ManagedPassword => "masterUserSecret",
        }
    }
}

/// Each managed setting that differs from the spec, with the expected and observed values.
pub(crate) fn differences(
    instance: &DbInstance,
    spec: &DatabaseSpec,
) -> Vec<(Setting, String, String)> {
    let shown = |value: Option<String>| value.unwrap_or_else(|| "unset".to_owned());
    let mut found = Vec::new();
    if instance.db_instance_class() != Some(spec.instance_class.as_str()) {
        found.push((
            Setting::InstanceClass,
            spec.instance_class.clone(),
            shown(instance.db_instance_class().map(str::to_owned)),
        ));
    }
    // Storage only grows; the plan refuses a shrink before it gets here.
    let storage = i32::try_from(spec.storage_gib).unwrap_or(i32::MAX);
    if instance.allocated_storage().is_some_and(|s| s < storage) {
        found.push((
            Setting::AllocatedStorage,
            storage.to_string(),
            shown(instance.allocated_storage().map(|s| s.to_string())),
        ));
    }
    if instance.engine_version() != Some(spec.engine_version.as_str()) {
        found.push((
            Setting::EngineVersion,
            spec.engine_version.clone(),
            shown(instance.engine_version().map(str::to_owned)),
        ));
    }
    if instance.multi_az() != Some(spec.multi_az) {
        found.push((
            Setting::MultiAz,
            spec.multi_az.to_string(),
            shown(instance.multi_az().map(|m| m.to_string())),
        ));
    }
    let retention = i32::from(spec.backup_retention_days);
    if instance.backup_retention_period() != Some(retention) {
        found.push((
            Setting::BackupRetention,
            retention.to_string(),
            shown(instance.backup_retention_period().map(|r| r.to_string())),
        ));
    }
    if instance.deletion_protection() != Some(true) {
        found.push((
            Setting::DeletionProtection,
            "true".to_owned(),
            shown(instance.deletion_protection().map(|d| d.to_string())),
        ));
    }
    // A restored instance comes back with the snapshot's password: hand it to RDS again.
    if instance.master_user_secret().is_none() {
        found.push((
            Setting::ManagedPassword,
            "managed by RDS".to_owned(),
            "unset".to_owned(),
        ));
    }
    found
}

pub(crate) fn modification(
    client: &Client,
    id: &str,
    instance: &DbInstance,
    spec: &DatabaseSpec,
) -> Option<aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder> {
    let found = differences(instance, spec);
    if found.is_empty() {
        return None;
    }
    let mut modify = client
        .modify_db_instance()
        .db_instance_identifier(id)
        .apply_immediately(true);
    for (setting, _, _) in found {
        modify = match setting {
            Setting::InstanceClass => modify.db_instance_class(&spec.instance_class),
            Setting::AllocatedStorage => {
                modify.allocated_storage(i32::try_from(spec.storage_gib).unwrap_or(i32::MAX))
            }
            Setting::EngineVersion => modify
                .engine_version(&spec.engine_version)
                .allow_major_version_upgrade(true),
            Setting::MultiAz => modify.multi_az(spec.multi_az),
            Setting::BackupRetention => {
                modify.backup_retention_period(i32::from(spec.backup_retention_days))
            }
            Setting::DeletionProtection => modify.deletion_protection(true),
            Setting::ManagedPassword => modify.manage_master_user_password(true),
        };
    }
    Some(modify)
}
