//! Lambda entry point for the network component: wiring only.

use strata_network::Network;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::run_component(Network::new).await
}
