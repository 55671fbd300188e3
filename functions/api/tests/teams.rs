//! Per-team authorization at the API: a caller acts only on environments of the team its
//! IAM tags name (an admin on all), every refusal is a 403 naming both teams, and a refused
//! request writes nothing.

mod support;

use lambda_http::http::StatusCode;
use serde_json::Value;
use strata_store::prelude::*;
use support::*;

/// `method target` from `arn`, with a YAML body when given one.
async fn as_(api: &TestApi, arn: &str, method: &str, target: &str, body: Option<&str>) -> Answer {
    let content_type = body.map(|_| "application/yaml");
    let event = event_as(arn, method, target, content_type, body.map(str::as_bytes));
    call(api, event, NOW).await
}

fn json_body(value: &Value) -> String {
    value.to_string()
}

#[tokio::test]
async fn a_team_acts_on_its_own_environment_and_no_other() {
    let api = api();
    // Bob (team shop) applies the staging example, which is labelled team shop.
    let spec = staging_text();
    let applied = as_(&api, BOB, "PUT", "/environments/staging", Some(&spec)).await;
    assert_eq!(applied.status, StatusCode::ACCEPTED, "{}", applied.body);
    let got = as_(&api, BOB, "GET", "/environments/staging", None).await;
    assert_eq!(got.status, StatusCode::OK);
    let history = api.store().history("staging", 10, None).await.unwrap();
    assert_eq!(
        history.items[0].actor, BOB,
        "the history names the principal"
    );

    // Carol (team payments) is refused on every route that names it.
    let preview = json_body(&serde_json::json!({"name": "pay-preview", "ttl": "24h"}));
    let events_before = api
        .store()
        .history("staging", 100, None)
        .await
        .unwrap()
        .items
        .len();
    let starts_before = api.flows().started().len();
    for (method, target, body) in [
        ("GET", "/environments/staging", None),
        ("PUT", "/environments/staging", Some(spec.as_str())),
        ("POST", "/environments/staging/plan", Some(spec.as_str())),
        ("DELETE", "/environments/staging", None),
        ("GET", "/environments/staging/history", None),
        ("POST", "/environments/staging/rollback", None),
        ("POST", "/environments/staging/sleep", None),
        ("POST", "/environments/staging/wake", None),
        ("POST", "/environments/staging/cancel", None),
        ("POST", "/environments/staging/sync", None),
    ] {
        let answer = as_(&api, CAROL, method, target, body).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {target}: {}",
            answer.body
        );
        assert_eq!(
            answer.body["error"]["code"], "NotYourTeam",
            "{method} {target}"
        );
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("belongs to team shop") && message.contains("carries team payments"),
            "{message}"
        );
    }
    let previews = event_as(
        CAROL,
        "POST",
        "/environments/staging/previews",
        Some("application/json"),
        Some(preview.as_bytes()),
    );
    let answer = call(&api, previews, NOW).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let ttl = event_as(
        CAROL,
        "POST",
        "/environments/staging/ttl",
        Some("application/json"),
        Some(br#"{"extendBy": "24h"}"#),
    );
    assert_eq!(call(&api, ttl, NOW).await.status, StatusCode::FORBIDDEN);

    // Nothing was written: no event, no execution, the spec is Bob's, no preview.
    let events = api
        .store()
        .history("staging", 100, None)
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), events_before);
    assert_eq!(api.flows().started().len(), starts_before);
    assert!(api.store().get_spec("pay-preview").await.unwrap().is_none());

    // Carol's listing does not show it; Bob's and the admin's do.
    let names = |answer: Answer| -> Vec<String> {
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(names(as_(&api, CAROL, "GET", "/environments", None).await).is_empty());
    assert_eq!(
        names(as_(&api, BOB, "GET", "/environments", None).await),
        ["staging"]
    );
    assert_eq!(
        names(as_(&api, ALICE, "GET", "/environments", None).await),
        ["staging"]
    );
}

#[tokio::test]
async fn a_team_cannot_take_an_environment_or_make_one_of_another_team() {
    let api = api();
    let spec = staging_text();
    // Carol cannot create an environment labelled for team shop...
    let answer = as_(&api, CAROL, "PUT", "/environments/staging", Some(&spec)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(api.store().get_spec("staging").await.unwrap().is_none());
    // ...nor one without a team, which only an admin may.
    let teamless = spec.replace("  labels:\n    team: shop\n", "");
    assert_ne!(teamless, spec);
    let answer = as_(&api, CAROL, "PUT", "/environments/staging", Some(&teamless)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("names no team")
    );
    // Bob's environment cannot be relabelled to Carol's team by Carol, nor given away by Bob.
    assert_eq!(
        as_(&api, BOB, "PUT", "/environments/staging", Some(&spec))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let payments = spec.replace("team: shop", "team: payments");
    for who in [CAROL, BOB] {
        let answer = as_(&api, who, "PUT", "/environments/staging", Some(&payments)).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{who}: {}",
            answer.body
        );
    }
    let stored = api.store().get_spec("staging").await.unwrap().unwrap();
    assert_eq!(stored.environment.team(), Some("shop"));
    assert_eq!(stored.generation, 1);
}

#[tokio::test]
async fn a_team_s_spec_reads_only_its_team_s_secrets() {
    let api = api();
    // The example's secret is under strata/shop/: team shop's. As team payments' spec it
    // is another team's secret, refused by its field.
    let spec = staging_text().replace("team: shop", "team: payments");
    let answer = as_(&api, CAROL, "PUT", "/environments/staging", Some(&spec)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let paths = error_paths(&answer.body);
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert!(paths[0].ends_with("].secretArn"), "{paths:?}");
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("team payments's prefix"), "{message}");
    assert!(api.store().get_spec("staging").await.unwrap().is_none());
}

#[tokio::test]
async fn a_caller_without_tags_acts_on_nothing() {
    let api = api();
    let nobody = "arn:aws:sts::123456789012:assumed-role/ci/build-42";
    let answer = as_(
        &api,
        nobody,
        "PUT",
        "/environments/staging",
        Some(&staging_text()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("carries no strata:team tag")
    );
}

/// The staging example as team payments' `name` (its secret moved under payments' prefix).
fn payments_spec(name: &str) -> serde_json::Value {
    let mut env = strata_core::Environment::parse(&staging_text()).unwrap();
    env.metadata.name = name.into();
    env.metadata.labels.insert("team".into(), "payments".into());
    let var = &mut env.spec.app.services[1].env[1];
    let arn = var.secret_arn.take().unwrap();
    var.secret_arn = Some(arn.replace("strata/shop/", "strata/payments/"));
    env.to_json()
}

#[tokio::test]
async fn a_spec_cannot_make_itself_a_preview_of_another_team_s_environment() {
    let api = api();
    let shop = as_(
        &api,
        BOB,
        "PUT",
        "/environments/staging",
        Some(&staging_text()),
    )
    .await;
    assert_eq!(shop.status, StatusCode::ACCEPTED, "{}", shop.body);
    // Payments' own spec naming shop's staging as its base: it would run on shop's
    // cluster and restore shop's database.
    let mut spec = payments_spec("evil");
    spec["spec"]["preview"] =
        serde_json::json!({"base": "staging", "share": "cluster", "database": "snapshot"});
    spec["spec"]["ttl"] = serde_json::json!("24h");
    let body = spec.to_string();
    for (method, target) in [
        ("PUT", "/environments/evil"),
        ("POST", "/environments/evil/plan"),
    ] {
        let answer = as_(&api, CAROL, method, target, Some(&body)).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method}: {}",
            answer.body
        );
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("environment staging belongs to team shop"),
            "{message}"
        );
    }
    assert!(api.store().get_spec("evil").await.unwrap().is_none());
}

#[tokio::test]
async fn a_team_s_listing_pages_through_its_own_names_only() {
    let api = api();
    // Names interleaved: a-pay, b-staging (shop), c-pay, d-shop (shop), e-pay.
    for name in ["a-pay", "c-pay", "e-pay"] {
        let body = payments_spec(name).to_string();
        let put = as_(
            &api,
            CAROL,
            "PUT",
            &format!("/environments/{name}"),
            Some(&body),
        )
        .await;
        assert_eq!(put.status, StatusCode::ACCEPTED, "{name}: {}", put.body);
    }
    for name in ["b-staging", "d-shop"] {
        let mut env = strata_core::Environment::parse(&staging_text()).unwrap();
        env.metadata.name = name.into();
        let body = env.to_json().to_string();
        let put = as_(
            &api,
            BOB,
            "PUT",
            &format!("/environments/{name}"),
            Some(&body),
        )
        .await;
        assert_eq!(put.status, StatusCode::ACCEPTED, "{name}: {}", put.body);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            Some(c) => format!("/environments?limit=1&cursor={c}"),
            None => "/environments?limit=1".to_owned(),
        };
        let page = as_(&api, CAROL, "GET", &target, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_owned());
        }
        match page.body["next"].as_str() {
            Some(next) => {
                assert!(next.ends_with("-pay"), "a cursor names {next}");
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(seen, ["a-pay", "c-pay", "e-pay"]);
}
