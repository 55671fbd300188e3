//! Lambda entry point for the app component: wiring only.

use strata_app::App;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    strata_component::lambda::run_component(App::new).await
}
