//! A preview's database starts from its base's data (DESIGN.md: "its base's newest" snapshot
//! for a preview): a snapshot of the base's instance taken for the preview when it is made,
//! tagged as the preview's (so only the preview restores from it) and deleted with it.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSnapshot;
use strata_component::aws::{classify, code};
use strata_component::{ComponentError, Step};
use strata_core::spec::PreviewDatabase;

use crate::resources::{check_owned, describe_snapshot, instance_name, rds_tags, tags_of};

/// Where a new instance of a preview starts from.
pub(crate) enum Seed {
    /// Not a preview restored from its base (or one with `database: empty`).
    NotSeeded,
    /// The base's snapshot is being taken.
    Taking,
    /// Restore from this snapshot.
    Ready(String),
}

/// The snapshot's id: the base's and the preview's names.
fn seed_id(base: &str, preview: &str) -> String {
    format!("strata-{base}-seed-{preview}")
}

/// The preview's seed snapshot: taken from the base's instance when missing.
pub(crate) async fn ensure(client: &Client, step: &Step<'_>) -> Result<Seed, ComponentError> {
    let env = step.environment;
    let Some(preview) = env
        .spec
        .preview
        .as_ref()
        .filter(|p| p.database == PreviewDatabase::Snapshot)
    else {
        return Ok(Seed::NotSeeded);
    };
    let id = seed_id(&preview.base, env.name());
    if let Some(snapshot) = find(client, &id, step).await? {
        return Ok(match snapshot.status() {
            Some("available") => Seed::Ready(id),
            _ => Seed::Taking,
        });
    }
    let base = instance_name(&preview.base);
    client
        .create_db_snapshot()
        .db_instance_identifier(&base)
        .db_snapshot_identifier(&id)
        .set_tags(Some(rds_tags(step.owner)))
        .send()
        .await
        .map_err(|e| match code(&e) {
            Some("DBInstanceNotFound") => ComponentError::InvalidInput(format!(
                "spec.preview.database: the base {} has no database instance {base} to snapshot (make the preview with database: empty)",
                preview.base
            )),
            _ => classify(&format!("CreateDBSnapshot {id}"), e),
        })?;
    Ok(Seed::Taking)
}

/// The snapshot `id`, if it exists; one that is not the environment's is refused.
async fn find(
    client: &Client,
    id: &str,
    step: &Step<'_>,
) -> Result<Option<DbSnapshot>, ComponentError> {
    let Some(snapshot) = describe_snapshot(client, id).await? else {
        return Ok(None);
    };
    let arn = snapshot.db_snapshot_arn().unwrap_or_default();
    check_owned(
        &format!("DB snapshot {id}"),
        &tags_of(client, arn).await?,
        step.owner,
    )?;
    Ok(Some(snapshot))
}

/// Deletes the preview's seed snapshot, if it has one (its data went with the preview).
pub(crate) async fn remove(client: &Client, step: &Step<'_>) -> Result<(), ComponentError> {
    let env = step.environment;
    let Some(preview) = &env.spec.preview else {
        return Ok(());
    };
    let id = seed_id(&preview.base, env.name());
    if find(client, &id, step).await?.is_none() {
        return Ok(());
    }
    match client
        .delete_db_snapshot()
        .db_snapshot_identifier(&id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("DBSnapshotNotFound") => Ok(()),
        Err(e) => Err(classify(&format!("DeleteDBSnapshot {id}"), e)),
    }
}
