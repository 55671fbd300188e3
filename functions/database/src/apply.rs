//! The apply path: the instance checked as ours, its subnet group converged, then created,
//! waited for, stopped or started for sleep and wake, or modified to the spec.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbInstance;
use strata_component::aws::classify;
use strata_component::clients::Regional;
use strata_component::{ComponentError, Progress, Step};
use strata_core::status::ComponentPhase;
use strata_core::{Awaited, Component};

use crate::Database;
use crate::resources::{check_owned, describe_instance, engine_name, instance_name};
use crate::settings::modification;
use crate::subnet_group::ensure_subnet_group;

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

/// The network outputs the database needs: private subnets and the security group.
fn network_outputs(step: &Step<'_>) -> Result<(Vec<String>, String), ComponentError> {
    let network = step.outputs_of(Component::Database, Component::Network)?;
    let subnets = network.required("privateSubnetIds")?;
    let group = network.required("databaseSecurityGroupId")?;
    Ok((
        subnets.split(',').map(str::to_owned).collect(),
        group.to_owned(),
    ))
}

pub(crate) fn ready(instance: &DbInstance, id: &str) -> Progress {
    let mut progress = Progress::finished(ComponentPhase::Ready);
    progress
        .resource_ids
        .insert("instanceId".into(), id.to_owned());
    let endpoint = instance.endpoint();
    progress.with_outputs([
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
    ])
}

impl<C: Regional<Client>> Database<C> {
    /// One step of `apply`.
    pub(crate) async fn apply_step(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
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
}
