//! Lambda entry point for the cluster component: wiring only.

use strata_cluster::{Cluster, Roles};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let roles = Roles::from_env()?;
    strata_component::lambda::run_component(|config| Cluster::new(config, roles)).await
}
