//! The destroy path, as `onDelete` says: a final snapshot then delete (the default), retain
//! (the instance stays, running and protected), or delete without a snapshot; then the
//! subnet group and a preview's seed snapshot.

use aws_sdk_rds::Client;
use strata_component::aws::{classify, code};
use strata_component::clients::Regional;
use strata_component::{ComponentError, Progress, Step};
use strata_core::spec::DatabaseOnDelete;
use strata_core::status::ComponentPhase;
use strata_core::{Awaited, OperationKind, snapshots};

use crate::apply::ready;
use crate::resources::{check_owned, describe_instance, final_snapshot_name, instance_name};
use crate::{Database, seed};

impl<C: Regional<Client>> Database<C> {
    /// One step of `destroy`.
    pub(crate) async fn destroy_step(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
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
