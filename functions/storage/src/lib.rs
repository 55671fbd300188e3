//! The storage component: one S3 bucket per `spec.storage.buckets[]`, named
//! `strata-<environment>-<bucket>`, encrypted (SSE-S3), public access blocked, versioned as
//! the spec says, tagged as Strata's.
//!
//! `destroy` honours `onDelete`: `retain` (default) leaves the buckets and their objects,
//! still tagged, and reports the component Retained; `delete` empties every object version
//! and delete marker, then deletes the bucket. A bucket with the right name but without
//! this environment's tags is never touched: the step fails with `ResourceNotOwned`.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use strata_component::aws::{classify, code};
use strata_component::clients::{FromConfig, Regional};
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::Component;
use strata_core::drift::{FieldDrift, Observed};
use strata_core::spec::{StorageOnDelete, StorageSpec};
use strata_core::status::ComponentPhase;
use strata_core::tags::{self, Owner};

/// An S3 client from `config`.
fn s3(config: &aws_config::SdkConfig) -> Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    // A custom endpoint (the local stack) has no per-bucket host names.
    if config.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    Client::from_conf(builder.build())
}

/// The storage handler; `clients` makes an S3 client for the environment's region.
pub struct Storage<C> {
    pub clients: C,
    /// How much of a bucket one step empties before it hands back (the step is invoked
    /// again): a bucket of any size is deleted within Lambda's timeout.
    pub emptying: Emptying,
}

impl Storage<FromConfig<Client>> {
    /// The deployed handler, its clients made from the function's SDK config.
    pub fn new(config: aws_config::SdkConfig) -> Self {
        Self {
            clients: FromConfig::new(config, s3),
            emptying: Emptying::default(),
        }
    }
}

/// One step's share of emptying a bucket: at most this many listed pages of versions, and
/// no new page once this much time has gone.
#[derive(Debug, Clone, Copy)]
pub struct Emptying {
    pub page_size: i32,
    pub pages: usize,
    pub seconds: u64,
}

impl Default for Emptying {
    /// 40 pages of 1,000 versions (S3's largest) in at most a minute: half the function's
    /// 120 s timeout.
    fn default() -> Self {
        Self {
            page_size: 1000,
            pages: 40,
            seconds: 60,
        }
    }
}

/// The bucket's real name.
pub fn bucket_name(environment: &str, bucket: &str) -> String {
    format!("strata-{environment}-{bucket}")
}

/// The bucket as S3 has it: absent, or present with its tags.
enum Found {
    Absent,
    Present(BTreeMap<String, String>),
}

async fn find(client: &Client, bucket: &str) -> Result<Found, ComponentError> {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => {}
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
            return Ok(Found::Absent);
        }
        Err(e) => return Err(classify(&format!("HeadBucket {bucket}"), e)),
    }
    match client.get_bucket_tagging().bucket(bucket).send().await {
        Ok(out) => Ok(Found::Present(
            out.tag_set.into_iter().map(|t| (t.key, t.value)).collect(),
        )),
        Err(e) if code(&e) == Some("NoSuchTagSet") => Ok(Found::Present(BTreeMap::new())),
        Err(e) => Err(classify(&format!("GetBucketTagging {bucket}"), e)),
    }
}

fn check_owned(
    bucket: &str,
    found: &BTreeMap<String, String>,
    environment: &Owner,
) -> Result<(), ComponentError> {
    environment
        .check(
            found.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            Component::Storage,
        )
        .map_err(|why| {
            ComponentError::ResourceNotOwned(format!(
                "bucket {bucket} is not environment {environment}'s storage: {why}; Strata leaves it alone"
            ))
        })
}

/// Apply puts back tags removed (drift) from a bucket this environment's status records as
/// its own, as long as none of the tags left names another owner; anything else must carry
/// every ownership tag. Destroy never relaxes this.
fn check_restorable(
    bucket: &str,
    found: &BTreeMap<String, String>,
    environment: &Owner,
    recorded: bool,
) -> Result<(), ComponentError> {
    let contradicted = environment
        .tags(Component::Storage)
        .iter()
        .any(|(key, value)| found.get(*key).is_some_and(|v| v != value));
    if recorded && !contradicted {
        return Ok(());
    }
    check_owned(bucket, found, environment)
}

impl<C: Regional<Client>> Storage<C> {
    async fn converge_bucket(
        &self,
        client: &Client,
        environment: &Owner,
        region: &str,
        bucket: &str,
        versioning: bool,
        recorded: bool,
    ) -> Result<(), ComponentError> {
        match find(client, bucket).await? {
            Found::Present(found) => check_restorable(bucket, &found, environment, recorded)?,
            Found::Absent => {
                let mut create = client.create_bucket().bucket(bucket);
                // us-east-1 is the one region that takes no location constraint.
                if region != "us-east-1" {
                    create = create.create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::from(region))
                            .build(),
                    );
                }
                create
                    .send()
                    .await
                    .map_err(|e| classify(&format!("CreateBucket {bucket}"), e))?;
            }
        }
        // Re-applied on every step: cheap, idempotent, and it restores drift.
        let tag_set = environment
            .tags(Component::Storage)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ComponentError::AwsRejected(e.to_string()))?;
        client
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(tag_set))
                    .build()
                    .map_err(|e| ComponentError::AwsRejected(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| classify(&format!("PutBucketTagging {bucket}"), e))?;
        let sse = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(ServerSideEncryption::Aes256)
                            .build()
                            .map_err(|e| ComponentError::AwsRejected(e.to_string()))?,
                    )
                    .build(),
            )
            .build()
            .map_err(|e| ComponentError::AwsRejected(e.to_string()))?;
        client
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(sse)
            .send()
            .await
            .map_err(|e| classify(&format!("PutBucketEncryption {bucket}"), e))?;
        client
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(&format!("PutPublicAccessBlock {bucket}"), e))?;
        let status = if versioning {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| classify(&format!("PutBucketVersioning {bucket}"), e))?;
        Ok(())
    }

    /// Deletes object versions and delete markers page by page, within this step's share,
    /// then the bucket once it is empty. False while versions remain (the next step goes
    /// on: listing starts over, and what this one deleted is no longer listed).
    async fn delete_bucket(&self, client: &Client, bucket: &str) -> Result<bool, ComponentError> {
        let started = std::time::Instant::now();
        let budget = std::time::Duration::from_secs(self.emptying.seconds);
        let mut key_marker = None;
        let mut version_marker = None;
        for pages in 1.. {
            let page = client
                .list_object_versions()
                .bucket(bucket)
                .max_keys(self.emptying.page_size)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .map_err(|e| classify(&format!("ListObjectVersions {bucket}"), e))?;
            let objects: Vec<ObjectIdentifier> = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    page.delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                )
                .filter_map(|(key, version)| {
                    ObjectIdentifier::builder()
                        .set_key(key.map(str::to_owned))
                        .set_version_id(version.map(str::to_owned))
                        .build()
                        .ok()
                })
                .collect();
            if !objects.is_empty() {
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(|e| ComponentError::AwsRejected(e.to_string()))?;
                client
                    .delete_objects()
                    .bucket(bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("DeleteObjects {bucket}"), e))?;
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            if pages >= self.emptying.pages || started.elapsed() >= budget {
                return Ok(false);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
        client
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| classify(&format!("DeleteBucket {bucket}"), e))?;
        Ok(true)
    }
}

/// The buckets a step is about: the spec's, or (when the spec dropped storage) the ones the
/// status recorded.
fn buckets(step: &Step<'_>) -> Vec<String> {
    let environment = step.environment.name();
    match &step.environment.spec.storage {
        Some(storage) => storage
            .buckets
            .iter()
            .map(|b| bucket_name(environment, &b.name))
            .collect(),
        None => step
            .previous
            .map(|p| {
                p.resource_ids
                    .iter()
                    .filter(|(k, _)| k.starts_with("bucket."))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl<C: Regional<Client>> ComponentHandler for Storage<C> {
    fn component(&self) -> Component {
        Component::Storage
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let Some(StorageSpec { buckets, .. }) = &env.spec.storage else {
            return Ok(Progress::finished(ComponentPhase::Deleted));
        };
        let client = self.clients.client(&env.spec.region);
        let mut progress = Progress::finished(ComponentPhase::Ready);
        for bucket in buckets {
            let name = bucket_name(env.name(), &bucket.name);
            let recorded = step
                .previous
                .and_then(|p| p.resource_ids.get(&format!("bucket.{}", bucket.name)))
                == Some(&name);
            self.converge_bucket(
                &client,
                step.owner,
                &env.spec.region,
                &name,
                bucket.versioning,
                recorded,
            )
            .await?;
            progress
                .resource_ids
                .insert(format!("bucket.{}", bucket.name), name.clone());
            progress
                .outputs
                .insert(format!("bucket.{}", bucket.name), name);
        }
        Ok(progress)
    }

    /// Each bucket's presence, tags and versioning.
    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let env = step.environment;
        let Some(StorageSpec { buckets, .. }) = &env.spec.storage else {
            return Ok(Observed::InSync);
        };
        let client = self.clients.client(&env.spec.region);
        let (mut missing, mut fields) = (Vec::new(), Vec::new());
        for bucket in buckets {
            let name = bucket_name(env.name(), &bucket.name);
            let found = match find(&client, &name).await? {
                Found::Absent => {
                    missing.push(format!("bucket {name}"));
                    continue;
                }
                Found::Present(found) => found,
            };
            for (key, expected) in tags::base(env.name(), Component::Storage) {
                let observed = found.get(key).map_or("absent", String::as_str);
                if observed != expected {
                    fields.push(FieldDrift::new(
                        format!("bucket {name}/tags.{key}"),
                        expected,
                        observed,
                    ));
                }
            }
            let versioning = client
                .get_bucket_versioning()
                .bucket(&name)
                .send()
                .await
                .map_err(|e| classify(&format!("GetBucketVersioning {name}"), e))?;
            let enabled = versioning.status() == Some(&BucketVersioningStatus::Enabled);
            if enabled != bucket.versioning {
                let says = |on: bool| if on { "Enabled" } else { "Suspended" };
                fields.push(FieldDrift::new(
                    format!("bucket {name}/versioning"),
                    says(bucket.versioning),
                    says(enabled),
                ));
            }
        }
        Ok(Observed::from_findings(missing, fields))
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        // Without a storage section, the safe default applies: keep the data.
        let on_delete = env
            .spec
            .storage
            .as_ref()
            .map_or(StorageOnDelete::Retain, |s| s.on_delete);
        let client = self.clients.client(&env.spec.region);
        let mut kept = 0;
        let mut emptying = false;
        for bucket in buckets(step) {
            match find(&client, &bucket).await? {
                Found::Absent => {}
                Found::Present(found) => {
                    check_owned(&bucket, &found, step.owner)?;
                    match on_delete {
                        StorageOnDelete::Retain => kept += 1,
                        StorageOnDelete::Delete => {
                            emptying |= !self.delete_bucket(&client, &bucket).await?;
                        }
                    }
                }
            }
        }
        if emptying {
            return Ok(Progress::waiting(ComponentPhase::Deleting));
        }
        Ok(Progress::finished(if kept > 0 {
            ComponentPhase::Retained
        } else {
            ComponentPhase::Deleted
        }))
    }
}

#[cfg(test)]
mod tests;
