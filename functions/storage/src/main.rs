//! Lambda entry point for the storage component: wiring only.

use storage::{RegionalClients, Storage};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::init_tracing();
    let config = aws_config::load_from_env().await;
    let store = strata_component::lambda::store(&config)?;
    strata_component::lambda::serve(
        store,
        Storage {
            clients: RegionalClients(config),
        },
    )
    .await
}
