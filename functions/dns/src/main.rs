//! Lambda entry point for the dns component: wiring only.

use strata_dns::Dns;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::run_component(Dns::new).await
}
