//! Lambda entry point for the network component: wiring only.

use strata_network::{Network, RegionalClients};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::run_component(|config| Network {
        clients: RegionalClients(config),
    })
    .await
}
