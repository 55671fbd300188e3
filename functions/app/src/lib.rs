//! The app component: each service of the spec as a Deployment and a Service in the
//! environment's namespace, written by server-side apply as `strata`.
//!
//! - The image tag is the newest in the service's repository that satisfies its `version`
//!   constraint: ECR or any OCI registry (`strata-registry`, the same listing sync uses).
//! - A service with `migrate` runs it as a Job with the new image before the new version
//!   serves; a failed Job stops the rollout (`MigrationFailed`, with the Job's reason) and
//!   the version already serving keeps serving.
//! - `rolling`: one Deployment `<service>`, the Deployment's own rolling update.
//! - `blueGreen`: Deployments `<service>-blue` and `<service>-green`; the new version comes
//!   up in the colour not serving, and once it is available the Service's selector switches
//!   to it. The old colour stays scaled, so [`App::rollback`] is instant, until the next
//!   deploy replaces it.
//! - The public service is a `LoadBalancer`; its hostname and zone are the outputs the dns
//!   component points the environment's name at.
//!
//! Private services get the database Secret; every service gets the bucket names.
//! `destroy` deletes the public Services first (so their load balancers are released while
//! the VPC still stands), then the other Services, the Deployments and the Jobs, and waits
//! until no pod of the environment remains.

mod colors;
mod handler;
mod live;
mod manifests;
mod rollback;
mod rollout;

pub use handler::with_outputs;
pub use manifests::{
    COLOR_LABEL, ENVIRONMENT_LABEL, PUBLIC_PORT, SERVICE_LABEL, Wiring, deployment,
    deployment_name, migration_job, migration_name, service,
};

use strata_registry::Registries;

/// The app handler: EKS for the cluster, the image's registry for its tags, ELBv2 for the
/// load balancer's zone.
pub struct App {
    aws: aws_config::SdkConfig,
    registries: Registries,
}

impl App {
    pub fn new(aws: aws_config::SdkConfig) -> Self {
        Self {
            registries: Registries::new(aws.clone()),
            aws,
        }
    }
}
