//! The database's RDS resources by name and tag: the names Strata gives them, the tags it
//! puts on them, the check that a found one is this environment's, and the describes that
//! find them.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbInstance, DbSnapshot, Tag};
use strata_component::ComponentError;
use strata_component::aws::{classify, code};
use strata_core::Component;
use strata_core::spec::DatabaseEngine;
use strata_core::tags::Owner;

/// The instance's and the subnet group's name.
pub fn instance_name(environment: &str) -> String {
    format!("strata-{environment}")
}

/// The final snapshot of one `down`: unique per operation, the same across its retries.
pub fn final_snapshot_name(environment: &str, generation: u64, started_at: u64) -> String {
    format!("strata-{environment}-final-g{generation}-{started_at}")
}

pub(crate) fn engine_name(engine: DatabaseEngine) -> &'static str {
    match engine {
        DatabaseEngine::Postgres => "postgres",
        DatabaseEngine::Mysql => "mysql",
    }
}

pub(crate) fn rds_tags(environment: &Owner) -> Vec<Tag> {
    environment
        .tags(Component::Database)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn pairs(found: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    found
        .iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
}

/// `Ok` when `found` (a resource's tags) says `what` is the environment's database's.
pub(crate) fn check_owned(
    what: &str,
    found: &[Tag],
    environment: &Owner,
) -> Result<(), ComponentError> {
    environment
        .check(pairs(found), Component::Database)
        .map_err(|why| not_owned(what, environment, &why))
}

pub(crate) fn not_owned(what: &str, environment: &Owner, why: &str) -> ComponentError {
    ComponentError::ResourceNotOwned(format!(
        "{what} is not environment {environment}'s database: {why}; Strata leaves it alone"
    ))
}

pub(crate) async fn describe_instance(
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
pub(crate) async fn tags_of(client: &Client, arn: &str) -> Result<Vec<Tag>, ComponentError> {
    client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map(|out| out.tag_list.unwrap_or_default())
        .map_err(|e| classify(&format!("ListTagsForResource {arn}"), e))
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
