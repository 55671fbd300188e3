//! Lambda entry point for the config component: wiring only.

use strata_config::Config;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::run_component(|aws| Config { aws }).await
}
