//! The cost of a plan and of what runs, and the budget gate: through the API's routes, over
//! the in-memory store. The figure is examples/staging.yaml's, computed by hand in
//! `strata_core::cost`'s tests ($224.50 a month at eu-west-1 list prices).

use lambda_http::http::StatusCode;
use serde_json::Value;
use strata_core::{EnvironmentState, EnvironmentStatus};
use strata_store::prelude::*;

mod support;
use support::*;

async fn planned(api: &TestApi, spec: &str) -> Value {
    let answer = plan(api, "staging", spec, NOW).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["cost"].clone()
}

fn with_budget(spec: &str, dollars: u32) -> String {
    format!("{spec}  budget:\n    monthlyUSD: {dollars}\n")
}

#[tokio::test]
async fn a_new_environment_plans_its_whole_estimate_and_the_budget_refuses_above_it() {
    let api = api();
    let spec = staging_text();
    let cost = planned(&api, &spec).await;
    assert_eq!(cost["before"], Value::Null);
    assert_eq!(cost["after"]["monthlyUsd"], 224.5);
    assert_eq!(cost["after"]["region"], "eu-west-1");
    assert_eq!(cost["changeUsd"], 224.5);
    assert_eq!(cost["overBudget"], Value::Null);

    let tight = with_budget(&spec, 200);
    let cost = planned(&api, &tight).await;
    let why = cost["overBudget"].as_str().unwrap();
    assert!(why.contains("$224.50") && why.contains("($200)"), "{why}");

    let refused = put(&api, "/environments/staging", &tight, NOW).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "BudgetExceeded");
    assert_eq!(error_paths(&refused.body), ["spec.budget.monthlyUSD"]);
    assert!(api.store().get_spec("staging").await.unwrap().is_none());
    assert!(
        api.flows().started().is_empty(),
        "a refused apply starts nothing"
    );

    let roomy = put(&api, "/environments/staging", &with_budget(&spec, 250), NOW).await;
    assert_eq!(roomy.status, StatusCode::ACCEPTED, "{}", roomy.body);
}

#[tokio::test]
async fn what_runs_is_priced_and_a_plan_shows_the_change_per_component() {
    let api = api();
    let spec = staging_text();
    put(&api, "/environments/staging", &spec, NOW).await;
    let before = get(&api, "/environments/staging", NOW).await;
    assert_eq!(before.body["cost"], Value::Null, "nothing has run yet");

    converged(&api, &spec).await;
    let ready = EnvironmentStatus::new(EnvironmentState::Ready, "up done", NOW + 1);
    let previous = api.store().get_status("staging").await.unwrap();
    api.store()
        .put_status("staging", &ready, previous.map(|p| p.version))
        .await
        .unwrap();
    let got = get(&api, "/environments/staging", NOW).await;
    assert_eq!(got.body["cost"]["monthlyUsd"], 224.5, "{}", got.body);

    // A NAT gateway in each of the two zones: one more gateway and its address.
    let per_az = spec.replace("natGateways: single", "natGateways: perAz");
    let cost = planned(&api, &per_az).await;
    assert_eq!(cost["before"]["monthlyUsd"], 224.5);
    assert_eq!(cost["after"]["monthlyUsd"], 263.19);
    assert_eq!(cost["changeUsd"], 38.69);
    let network = &cost["after"]["components"][0];
    assert_eq!(network["component"], "network");
    assert_eq!(network["lines"][0]["item"], "NAT gateway");
    assert_eq!(network["lines"][0]["quantity"], 2);
}
