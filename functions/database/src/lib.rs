//! The database component: an RDS instance `strata-<env>` in the network's private subnets
//! (subnet group `strata-<env>`), behind the network's database security group, encrypted,
//! with deletion protection while the environment lives and a master password that RDS
//! keeps in Secrets Manager (`ManageMasterUserPassword`): Strata only ever holds the
//! secret's ARN, which is the credential reference in the status.
//!
//! `apply` creates what is absent (restoring from this environment's newest final snapshot
//! when there is one of the same engine, so `down` then `up` keeps the data; or from the one
//! `restoreFrom` names, which must be recorded and usable), waits while
//! RDS works, and modifies in place what the spec changed (class, storage, engine version,
//! multi-AZ, backups, deletion protection). `destroy` honours `onDelete`: `snapshot` (the
//! default) takes a final snapshot named from the environment, the generation and the
//! operation's start, `retain` leaves the instance running and protected, `delete` drops it
//! without a snapshot. A same-named instance, subnet group or snapshot without this
//! environment's tags is never touched (`ResourceNotOwned`).

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbInstance, DbSnapshot, DbSubnetGroup, Tag};
use strata_component::aws::{classify, code};
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::drift::{FieldDrift, Observed};
use strata_core::spec::{DatabaseEngine, DatabaseOnDelete, DatabaseSpec};
use strata_core::status::ComponentPhase;
use strata_core::tags::{self, Owner};
use strata_core::{Awaited, Component, OperationKind, snapshots};

/// Makes an RDS client for a region (environments live in the region their spec names).
pub trait ClientFor: Send + Sync {
    fn client(&self, region: &str) -> Client;
}

/// Builds regional clients from one loaded SDK config.
pub struct RegionalClients(pub aws_config::SdkConfig);

impl ClientFor for RegionalClients {
    fn client(&self, region: &str) -> Client {
        let config = aws_sdk_rds::config::Builder::from(&self.0)
            .region(aws_sdk_rds::config::Region::new(region.to_owned()))
            .build();
        Client::from_conf(config)
    }
}

pub struct Database<C: ClientFor> {
    pub clients: C,
}

/// The instance's and the subnet group's name.
pub fn instance_name(environment: &str) -> String {
    format!("strata-{environment}")
}

/// The final snapshot of one `down`: unique per operation, the same across its retries.
pub fn final_snapshot_name(environment: &str, generation: u64, started_at: u64) -> String {
    format!("strata-{environment}-final-g{generation}-{started_at}")
}

const MASTER_USERNAME: &str = "strata";

fn engine_name(engine: DatabaseEngine) -> &'static str {
    match engine {
        DatabaseEngine::Postgres => "postgres",
        DatabaseEngine::Mysql => "mysql",
    }
}

/// RDS instance states a step waits through; anything not here and not `available` is a
/// failure a retry will not mend.
const BUSY: &[&str] = &[
    "creating",
    "backing-up",
    "modifying",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "upgrading",
    "configuring-enhanced-monitoring",
    "configuring-log-exports",
    "configuring-iam-database-auth",
    "maintenance",
    "starting",
    "storage-optimization",
    "moving-to-vpc",
    "converting-to-vpc",
];

fn rds_tags(environment: &Owner) -> Vec<Tag> {
    environment
        .tags(Component::Database)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn pairs(found: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    found
        .iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
}

/// `Ok` when `found` (a resource's tags) says `what` is the environment's database's.
fn check_owned(what: &str, found: &[Tag], environment: &Owner) -> Result<(), ComponentError> {
    environment
        .check(pairs(found), Component::Database)
        .map_err(|why| not_owned(what, environment, &why))
}

fn not_owned(what: &str, environment: &Owner, why: &str) -> ComponentError {
    ComponentError::ResourceNotOwned(format!(
        "{what} is not environment {environment}'s database: {why}; Strata leaves it alone"
    ))
}

async fn describe_instance(
    client: &Client,
    id: &str,
) -> Result<Option<DbInstance>, ComponentError> {
    match client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances.unwrap_or_default().into_iter().next()),
        Err(e) if code(&e) == Some("DBInstanceNotFound") => Ok(None),
        Err(e) => Err(classify(&format!("DescribeDBInstances {id}"), e)),
    }
}

/// The tags of an RDS resource by ARN (subnet groups and, on some services, snapshots do not
/// carry them in their describe output).
async fn tags_of(client: &Client, arn: &str) -> Result<Vec<Tag>, ComponentError> {
    client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map(|out| out.tag_list.unwrap_or_default())
        .map_err(|e| classify(&format!("ListTagsForResource {arn}"), e))
}

/// Creates the subnet group, or checks it is ours and has the network's private subnets.
async fn ensure_subnet_group(
    client: &Client,
    environment: &Owner,
    subnets: &[String],
) -> Result<(), ComponentError> {
    let name = instance_name(&environment.environment);
    match client
        .describe_db_subnet_groups()
        .db_subnet_group_name(&name)
        .send()
        .await
    {
        Ok(out) => {
            let group = out
                .db_subnet_groups()
                .first()
                .cloned()
                .unwrap_or_else(|| DbSubnetGroup::builder().build());
            let arn = group.db_subnet_group_arn().unwrap_or_default();
            check_owned(
                &format!("DB subnet group {name}"),
                &tags_of(client, arn).await?,
                environment,
            )?;
            let mut have: Vec<&str> = group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier())
                .collect();
            have.sort_unstable();
            let mut want: Vec<&str> = subnets.iter().map(String::as_str).collect();
            want.sort_unstable();
            if have != want {
                client
                    .modify_db_subnet_group()
                    .db_subnet_group_name(&name)
                    .set_subnet_ids(Some(subnets.to_vec()))
                    .send()
                    .await
                    .map_err(|e| classify(&format!("ModifyDBSubnetGroup {name}"), e))?;
            }
            Ok(())
        }
        Err(e) if code(&e) == Some("DBSubnetGroupNotFoundFault") => client
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(format!("strata {environment}: the database's subnets"))
            .set_subnet_ids(Some(subnets.to_vec()))
            .set_tags(Some(rds_tags(environment)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("CreateDBSubnetGroup {name}"), e)),
        Err(e) => Err(classify(&format!("DescribeDBSubnetGroups {name}"), e)),
    }
}

/// The final snapshot this environment's own status recorded when its database was last
/// deleted, if it is still there, available, of the spec's engine and tagged as this
/// environment's. A snapshot that merely has the name (another control plane's environment
/// of the same name, or an earlier one of this name whose record is gone) is never restored.
async fn recorded_final_snapshot(
    client: &Client,
    environment: &Owner,
    engine: DatabaseEngine,
    recorded: Option<&str>,
) -> Result<Option<DbSnapshot>, ComponentError> {
    let Some(id) = recorded else {
        return Ok(None);
    };
    let Some(snapshot) = describe_snapshot(client, id).await? else {
        return Ok(None);
    };
    if snapshot.status() != Some("available") || snapshot.engine() != Some(engine_name(engine)) {
        return Ok(None);
    }
    let arn = snapshot.db_snapshot_arn().unwrap_or_default();
    // Recorded by this name's status, maybe by an earlier incarnation (down, then up).
    environment
        .check_across_incarnations(pairs(&tags_of(client, arn).await?), Component::Database)
        .map_err(|why| not_owned(&format!("DB snapshot {id}"), environment, &why))?;
    Ok(Some(snapshot))
}

/// The DB snapshot `id`, or none if there is no such snapshot.
pub(crate) async fn describe_snapshot(
    client: &Client,
    id: &str,
) -> Result<Option<DbSnapshot>, ComponentError> {
    match client
        .describe_db_snapshots()
        .db_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(found) => Ok(found.db_snapshots().first().cloned()),
        Err(e) if code(&e) == Some("DBSnapshotNotFound") => Ok(None),
        Err(e) => Err(classify(&format!("DescribeDBSnapshots {id}"), e)),
    }
}

/// The snapshot a new instance is restored from: the one `restoreFrom` names (it must be
/// recorded), else the newest recorded one, else none.
fn snapshot_to_restore<'a>(
    step: &'a Step<'_>,
    spec: &'a DatabaseSpec,
) -> Result<Option<&'a str>, ComponentError> {
    match spec.restore_from.as_deref() {
        None => Ok(step.previous.and_then(snapshots::newest)),
        Some(from) => snapshots::chosen(from, step.previous)
            .map(Some)
            .map_err(|why| ComponentError::InvalidInput(format!("{}: {why}", snapshots::FIELD))),
    }
}

/// The network outputs the database needs: private subnets and the security group.
fn network_outputs(step: &Step<'_>) -> Result<(Vec<String>, String), ComponentError> {
    let missing = || ComponentError::DependencyNotReady {
        component: Component::Database,
        dependency: Component::Network,
    };
    let outputs = &step
        .dependencies
        .get(&Component::Network)
        .ok_or_else(missing)?
        .outputs;
    let subnets = outputs.get("privateSubnetIds").ok_or_else(missing)?;
    let group = outputs.get("databaseSecurityGroupId").ok_or_else(missing)?;
    Ok((
        subnets.split(',').map(str::to_owned).collect(),
        group.clone(),
    ))
}

/// What differs between the instance and the spec, as one ModifyDBInstance (or None).
/// A setting of the instance that `apply` converges to the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
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
    fn field(self) -> &'static str {
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
fn differences(instance: &DbInstance, spec: &DatabaseSpec) -> Vec<(Setting, String, String)> {
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

fn modification(
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

impl<C: ClientFor> Database<C> {
    async fn create(
        &self,
        client: &Client,
        step: &Step<'_>,
        spec: &DatabaseSpec,
        group: String,
    ) -> Result<Progress, ComponentError> {
        let env = step.owner;
        let id = instance_name(&env.environment);
        let mut progress = Progress::waiting(ComponentPhase::Creating);
        let seed = match seed::ensure(client, step).await? {
            seed::Seed::Taking => return Ok(progress),
            seed::Seed::Ready(id) => Some(id),
            seed::Seed::NotSeeded => None,
        };
        let recorded = snapshot_to_restore(step, spec)?;
        let found = match &seed {
            Some(_) => None,
            None => recorded_final_snapshot(client, env, spec.engine, recorded).await?,
        };
        if found.is_none()
            && let (Some(_), Some(wanted)) = (&spec.restore_from, recorded)
        {
            // Asked for on purpose: never a silent empty database instead.
            return Err(ComponentError::InvalidInput(format!(
                "{}: snapshot {wanted} is gone, not available, not this environment's, or of another engine",
                snapshots::FIELD
            )));
        }
        let from = seed.or_else(|| {
            found
                .as_ref()
                .and_then(|s| s.db_snapshot_identifier())
                .map(str::to_owned)
        });
        if let Some(from) = from.as_deref() {
            client
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(&id)
                .db_snapshot_identifier(from)
                .db_instance_class(&spec.instance_class)
                .db_subnet_group_name(&id)
                .vpc_security_group_ids(group)
                .multi_az(spec.multi_az)
                .publicly_accessible(false)
                .deletion_protection(true)
                .copy_tags_to_snapshot(true)
                .manage_master_user_password(true)
                .set_tags(Some(rds_tags(env)))
                .send()
                .await
                .map_err(|e| classify(&format!("RestoreDBInstanceFromDBSnapshot {id}"), e))?;
            progress
                .resource_ids
                .insert("restoredFrom".into(), from.to_owned());
        } else {
            client
                .create_db_instance()
                .db_instance_identifier(&id)
                .engine(engine_name(spec.engine))
                .engine_version(&spec.engine_version)
                .db_instance_class(&spec.instance_class)
                .allocated_storage(i32::try_from(spec.storage_gib).unwrap_or(i32::MAX))
                .master_username(MASTER_USERNAME)
                .manage_master_user_password(true)
                .db_subnet_group_name(&id)
                .vpc_security_group_ids(group)
                .multi_az(spec.multi_az)
                .backup_retention_period(i32::from(spec.backup_retention_days))
                .storage_encrypted(true)
                .publicly_accessible(false)
                .deletion_protection(true)
                .copy_tags_to_snapshot(true)
                .set_tags(Some(rds_tags(env)))
                .send()
                .await
                .map_err(|e| classify(&format!("CreateDBInstance {id}"), e))?;
        }
        progress.resource_ids.insert("instanceId".into(), id);
        Ok(progress.awaiting(Awaited::DatabaseCreate))
    }

    async fn delete_subnet_group(
        &self,
        client: &Client,
        env: &Owner,
    ) -> Result<(), ComponentError> {
        let name = instance_name(&env.environment);
        let group = match client
            .describe_db_subnet_groups()
            .db_subnet_group_name(&name)
            .send()
            .await
        {
            Ok(out) => out
                .db_subnet_groups()
                .first()
                .cloned()
                .unwrap_or_else(|| DbSubnetGroup::builder().build()),
            Err(e) if code(&e) == Some("DBSubnetGroupNotFoundFault") => return Ok(()),
            Err(e) => return Err(classify(&format!("DescribeDBSubnetGroups {name}"), e)),
        };
        let arn = group.db_subnet_group_arn().unwrap_or_default();
        check_owned(
            &format!("DB subnet group {name}"),
            &tags_of(client, arn).await?,
            env,
        )?;
        match client
            .delete_db_subnet_group()
            .db_subnet_group_name(&name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("DBSubnetGroupNotFoundFault") => Ok(()),
            Err(e) => Err(classify(&format!("DeleteDBSubnetGroup {name}"), e)),
        }
    }
}

fn ready(instance: &DbInstance, id: &str) -> Progress {
    let mut progress = Progress::finished(ComponentPhase::Ready);
    progress
        .resource_ids
        .insert("instanceId".into(), id.to_owned());
    let endpoint = instance.endpoint();
    for (key, value) in [
        ("instanceId", Some(id)),
        ("engine", instance.engine()),
        ("engineVersion", instance.engine_version()),
        ("address", endpoint.and_then(|e| e.address())),
        (
            "port",
            endpoint
                .and_then(|e| e.port())
                .map(|p| p.to_string())
                .as_deref(),
        ),
        // The secret's ARN only: the password itself never leaves Secrets Manager here.
        (
            "masterUserSecretArn",
            instance.master_user_secret().and_then(|s| s.secret_arn()),
        ),
        ("masterUsername", instance.master_username()),
    ] {
        if let Some(value) = value {
            progress.outputs.insert(key.to_owned(), value.to_owned());
        }
    }
    progress
}

impl<C: ClientFor> ComponentHandler for Database<C> {
    fn component(&self) -> Component {
        Component::Database
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let Some(spec) = &env.spec.database else {
            return Ok(Progress::finished(ComponentPhase::Deleted));
        };
        let (subnets, group) = network_outputs(step)?;
        let client = self.clients.client(&env.spec.region);
        let id = instance_name(env.name());
        let instance = describe_instance(&client, &id).await?;
        if let Some(instance) = &instance {
            check_owned(
                &format!("DB instance {id}"),
                instance.tag_list(),
                step.owner,
            )?;
        }
        ensure_subnet_group(&client, step.owner, &subnets).await?;
        let Some(instance) = instance else {
            return self.create(&client, step, spec, group).await;
        };
        if instance.engine() != Some(engine_name(spec.engine)) {
            return Err(ComponentError::AwsRejected(format!(
                "DB instance {id} runs {}, the spec asks for {}: changing the engine recreates the database, which only an allowed plan may do",
                instance.engine().unwrap_or("an unknown engine"),
                engine_name(spec.engine)
            )));
        }
        let status = instance.db_instance_status().unwrap_or_default();
        let mut waiting = Progress::waiting(ComponentPhase::Updating);
        waiting.resource_ids.insert("instanceId".into(), id.clone());
        // Sleep stops the instance (its storage, endpoint and id stay); a wake, or any up
        // of an awake environment, starts it again.
        let asleep = step.context.asleep;
        match status {
            "available" if asleep => {
                client
                    .stop_db_instance()
                    .db_instance_identifier(&id)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("StopDBInstance {id}"), e))?;
                return Ok(waiting);
            }
            "stopped" if asleep => return Ok(ready(&instance, &id)),
            "stopped" => {
                client
                    .start_db_instance()
                    .db_instance_identifier(&id)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("StartDBInstance {id}"), e))?;
                return Ok(waiting);
            }
            "stopping" => return Ok(waiting),
            "available" => {}
            "deleting" => {
                // A delete from an earlier `down` is finishing; create again once it is gone.
                waiting.phase = Some(ComponentPhase::Creating);
                return Ok(waiting.awaiting(Awaited::DatabaseDelete));
            }
            s if BUSY.contains(&s) => {
                if s == "creating" {
                    waiting.phase = Some(ComponentPhase::Creating);
                    return Ok(waiting.awaiting(Awaited::DatabaseCreate));
                }
                return Ok(waiting);
            }
            other => {
                return Err(ComponentError::AwsRejected(format!(
                    "DB instance {id} is {other}"
                )));
            }
        }
        if let Some(modify) = modification(&client, &id, &instance, spec) {
            modify
                .send()
                .await
                .map_err(|e| classify(&format!("ModifyDBInstance {id}"), e))?;
            return Ok(waiting);
        }
        Ok(ready(&instance, &id))
    }

    /// The instance's presence, engine, the settings `apply` converges and its tags.
    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let env = step.environment;
        let Some(spec) = &env.spec.database else {
            return Ok(Observed::InSync);
        };
        let client = self.clients.client(&env.spec.region);
        let id = instance_name(env.name());
        let Some(instance) = describe_instance(&client, &id).await? else {
            return Ok(Observed::Missing {
                resources: vec![format!("db instance {id}")],
            });
        };
        let path = |field: &str| format!("db instance {id}/{field}");
        let mut fields = Vec::new();
        if instance.engine() != Some(engine_name(spec.engine)) {
            fields.push(FieldDrift::new(
                path("engine"),
                engine_name(spec.engine),
                instance.engine().unwrap_or("unset"),
            ));
        }
        for (setting, expected, observed) in differences(&instance, spec) {
            fields.push(FieldDrift::new(path(setting.field()), expected, observed));
        }
        for (key, expected) in tags::base(env.name(), Component::Database) {
            let observed = instance
                .tag_list()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
                .unwrap_or("absent");
            if observed != expected {
                fields.push(FieldDrift::new(
                    path(&format!("tags.{key}")),
                    expected,
                    observed,
                ));
            }
        }
        Ok(Observed::from_findings(Vec::new(), fields))
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let name = step.owner;
        // Without a database section, the safe default applies: snapshot before delete. A
        // recreate's teardown (inside an up) always keeps a final snapshot, whatever the
        // policy: the database comes back from it.
        let on_delete = match step.context.operation {
            OperationKind::Up => DatabaseOnDelete::Snapshot,
            OperationKind::Down => env
                .spec
                .database
                .as_ref()
                .map_or(DatabaseOnDelete::Snapshot, |d| d.on_delete),
        };
        let client = self.clients.client(&env.spec.region);
        let id = instance_name(&name.environment);
        let Some(instance) = describe_instance(&client, &id).await? else {
            if on_delete != DatabaseOnDelete::Retain {
                self.delete_subnet_group(&client, name).await?;
            }
            if step.context.operation == OperationKind::Down {
                seed::remove(&client, step).await?;
            }
            let mut gone = Progress::finished(ComponentPhase::Deleted);
            if let Some(snapshot) = step
                .previous
                .and_then(|p| p.resource_ids.get("finalSnapshotId"))
            {
                gone.outputs
                    .insert("finalSnapshotId".into(), snapshot.clone());
            }
            return Ok(gone);
        };
        check_owned(&format!("DB instance {id}"), instance.tag_list(), name)?;
        if on_delete == DatabaseOnDelete::Retain {
            let mut kept = ready(&instance, &id);
            kept.phase = Some(ComponentPhase::Retained);
            return Ok(kept);
        }
        let mut waiting = Progress::waiting(ComponentPhase::Deleting);
        waiting.resource_ids.insert("instanceId".into(), id.clone());
        let snapshot = (on_delete == DatabaseOnDelete::Snapshot).then(|| {
            final_snapshot_name(
                &name.environment,
                step.context.generation,
                step.context.started_at,
            )
        });
        if let Some(snapshot) = &snapshot {
            waiting
                .resource_ids
                .insert("finalSnapshotId".into(), snapshot.clone());
            // Every final snapshot stays on record (restoreFrom may name an older one).
            waiting.resource_ids.insert(
                snapshots::record_key(snapshot),
                step.context.started_at.to_string(),
            );
        }
        match instance.db_instance_status().unwrap_or_default() {
            "deleting" => return Ok(waiting.awaiting(Awaited::DatabaseDelete)),
            "available"
            | "stopped"
            | "failed"
            | "storage-full"
            | "incompatible-parameters"
            | "incompatible-restore" => {}
            _ => return Ok(waiting), // RDS refuses a delete while it works; poll again.
        }
        if instance.deletion_protection() == Some(true) {
            client
                .modify_db_instance()
                .db_instance_identifier(&id)
                .deletion_protection(false)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| classify(&format!("ModifyDBInstance {id}"), e))?;
            return Ok(waiting);
        }
        let delete = client
            .delete_db_instance()
            .db_instance_identifier(&id)
            // Automated backups outlive the instance (their retention runs out on its own).
            .delete_automated_backups(false);
        let delete = match &snapshot {
            Some(snapshot) => delete.final_db_snapshot_identifier(snapshot),
            None => delete.skip_final_snapshot(true),
        };
        match delete.send().await {
            Ok(_) => {}
            // Another step of this operation got there first.
            Err(e) if code(&e) == Some("InvalidDBInstanceState") => {}
            Err(e) if code(&e) == Some("DBInstanceNotFound") => {}
            Err(e) => return Err(classify(&format!("DeleteDBInstance {id}"), e)),
        }
        Ok(waiting.awaiting(Awaited::DatabaseDelete))
    }
}

mod seed;
#[cfg(test)]
mod tests;
