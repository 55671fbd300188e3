//! A new instance: restored from a preview's seed, from the snapshot `restoreFrom` names or
//! this environment's newest recorded final snapshot, else created empty, encrypted and
//! protected, with a master password RDS keeps in Secrets Manager.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSnapshot;
use strata_component::aws::classify;
use strata_component::clients::Regional;
use strata_component::{ComponentError, Progress, Step};
use strata_core::spec::{DatabaseEngine, DatabaseSpec};
use strata_core::status::ComponentPhase;
use strata_core::tags::Owner;
use strata_core::{Awaited, Component, snapshots};

use crate::resources::{
    describe_snapshot, engine_name, instance_name, not_owned, pairs, rds_tags, tags_of,
};
use crate::{Database, seed};

const MASTER_USERNAME: &str = "strata";

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

impl<C: Regional<Client>> Database<C> {
    pub(crate) async fn create(
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
}
