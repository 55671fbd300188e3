//! Client and control plane of different releases: a client names its API contract, the API
//! refuses a major it no longer serves (writing nothing) and serves the rest, and every
//! answer names the control plane's contract (support's `call` checks the headers).

use lambda_http::http::StatusCode;
use serde_json::json;
use strata_store::prelude::*;

mod support;
use support::*;

/// `event` as a client of `contract` sends it.
fn from_client(
    contract: &str,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
) -> serde_json::Value {
    let content_type = body.map(|_| "application/yaml");
    let mut event = event(method, target, content_type, body);
    event["headers"]["strata-contract"] = json!(contract);
    event
}

#[tokio::test]
async fn a_client_of_a_contract_no_longer_served_is_refused_and_changes_nothing() {
    let api = api();
    let spec = staging_text();
    let refused = call(
        &api,
        from_client("0.9", "PUT", "/environments/staging", Some(spec.as_bytes())),
        NOW,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "ClientTooOld");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("0.9") && message.contains("upgrade strata"),
        "{message}"
    );
    assert!(api.store().get_spec("staging").await.unwrap().is_none());
    assert!(api.flows().started().is_empty());

    // A newer minor, a newer major and no header at all (curl, the console) are served.
    let served = call(
        &api,
        from_client("1.4", "PUT", "/environments/staging", Some(spec.as_bytes())),
        NOW,
    )
    .await;
    assert_eq!(served.status, StatusCode::ACCEPTED, "{}", served.body);
    for contract in ["2.0"] {
        let got = call(
            &api,
            from_client(contract, "GET", "/environments", None),
            NOW,
        )
        .await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    }
    assert_eq!(get(&api, "/environments", NOW).await.status, StatusCode::OK);
    let garbled = call(
        &api,
        from_client("latest", "GET", "/environments", None),
        NOW,
    )
    .await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST);
}
