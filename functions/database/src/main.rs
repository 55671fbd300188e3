//! Lambda entry point for the database component: wiring only.

use strata_database::Database;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::run_component(Database::new).await
}
