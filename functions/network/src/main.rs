//! Lambda entry point for the network component: wiring only.

use network::{Network, RegionalClients};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::init_tracing();
    let config = aws_config::load_from_env().await;
    let store = strata_component::lambda::store(&config)?;
    strata_component::lambda::serve(
        store,
        Network {
            clients: RegionalClients(config),
        },
    )
    .await
}
