//! Lambda entry point for the storage component: wiring only.

use strata_storage::Storage;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::run_component(Storage::new).await
}
