//! Previews through the API: made only from a Ready base that is not itself a preview, bad
//! requests refused with the field named and nothing stored, and a base held while a preview
//! runs on its cluster (its delete and a plan recreating its network refused, its plan
//! listing the preview).

use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use strata_core::{EnvironmentState, EnvironmentStatus};
use strata_store::prelude::*;

mod support;
use support::*;

async fn preview(api: &TestApi, base: &str, body: Value) -> Answer {
    let body = body.to_string();
    call(
        api,
        event(
            "POST",
            &format!("/environments/{base}/previews"),
            Some("application/json"),
            Some(body.as_bytes()),
        ),
        NOW,
    )
    .await
}

async fn set_state(api: &TestApi, name: &str, state: EnvironmentState) {
    let previous = api.store().get_status(name).await.unwrap();
    let mut status = previous
        .as_ref()
        .map(|p| p.value.clone())
        .unwrap_or_else(|| EnvironmentStatus::new(state, "", NOW));
    status.state = state;
    api.store()
        .put_status(name, &status, previous.map(|p| p.version))
        .await
        .unwrap();
}

/// Gives back the lease an accepted request reserved (no execution runs here).
async fn release(api: &TestApi, name: &str, answer: &Answer) {
    let execution = answer.body["execution"].as_str().unwrap();
    api.store().release(name, execution).await.unwrap();
}

#[tokio::test]
async fn a_preview_is_made_from_a_ready_base_and_holds_it_while_it_runs() {
    let api = api();
    let spec = staging_text();
    let applied = put(&api, "/environments/staging", &spec, NOW).await;
    assert_eq!(applied.status, StatusCode::ACCEPTED, "{}", applied.body);
    release(&api, "staging", &applied).await;
    let request = json!({"name": "pr-42", "ttl": "4h",
        "set": {"spec.app.services[api].replicas": "1"}});

    // Not Ready yet: refused, nothing stored.
    let early = preview(&api, "staging", request.clone()).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    assert_eq!(early.body["error"]["code"], "PreviewsDepend");
    assert!(api.store().get_spec("pr-42").await.unwrap().is_none());
    converged(&api, &spec).await;
    set_state(&api, "staging", EnvironmentState::Ready).await;

    // Bad requests name the field at fault; nothing is stored.
    for (body, path) in [
        (json!({"name": "pr-42"}), "ttl"),
        (json!({"name": "PR_42", "ttl": "4h"}), "name"),
        (json!({"name": "staging", "ttl": "4h"}), "name"),
        (
            json!({"name": "pr-42", "ttl": "4h", "share": "some"}),
            "share",
        ),
        (
            json!({"name": "pr-42", "ttl": "4h", "set": {"spec.app.services[nope].version": "1"}}),
            "spec.app.services[nope].version",
        ),
        (json!({"name": "pr-42", "ttl": "forever"}), "spec.ttl"),
        // The secret check PUT and plan run: another environment's RDS master secret (or any
        // secret outside the operator's prefix) cannot be mounted through `set`.
        (
            json!({"name": "pr-42", "ttl": "4h", "set": {
                "spec.app.services[api].env[PAYMENTS_API_KEY].secretArn":
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0f1e2d3c-AbCdEf"
            }}),
            "spec.app.services[1].env[1].secretArn",
        ),
    ] {
        let refused = preview(&api, "staging", body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert_eq!(
            error_paths(&refused.body),
            [path],
            "{body}: {}",
            refused.body
        );
        assert!(api.store().get_spec("pr-42").await.unwrap().is_none());
    }
    let missing = preview(&api, "nowhere", request.clone()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Made: the base's spec under the new name, with its override, TTL and DNS name.
    let made = preview(&api, "staging", request).await;
    assert_eq!(made.status, StatusCode::ACCEPTED, "{}", made.body);
    assert_eq!(made.body["execution"], "up-pr-42-1-0");
    let stored = api
        .store()
        .get_spec("pr-42")
        .await
        .unwrap()
        .unwrap()
        .environment;
    let preview_spec = stored.spec.preview.as_ref().unwrap();
    assert_eq!(preview_spec.base, "staging");
    assert_eq!(stored.spec.ttl.as_deref(), Some("4h"));
    assert_eq!(stored.spec.dns.as_ref().unwrap().name, "pr-42.example.com");
    let api_service = stored.spec.app.services.iter().find(|s| s.name == "api");
    assert_eq!(api_service.unwrap().replicas, 1);
    // A preview is no base.
    set_state(&api, "pr-42", EnvironmentState::Ready).await;
    release(&api, "pr-42", &made).await;
    let nested = preview(&api, "pr-42", json!({"name": "pr-43", "ttl": "1h"})).await;
    assert_eq!(nested.status, StatusCode::CONFLICT, "{}", nested.body);

    // The base is held: its delete and a plan recreating its network are refused, and its
    // plan names the preview.
    let held = delete(&api, "/environments/staging", NOW).await;
    assert_eq!(held.status, StatusCode::CONFLICT, "{}", held.body);
    assert!(
        held.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pr-42"),
        "{}",
        held.body
    );
    let moved = spec.replace("10.40.0.0/16", "10.41.0.0/16");
    assert_ne!(moved, spec);
    let recreate = put(
        &api,
        "/environments/staging?allowRecreate=database",
        &moved,
        NOW,
    )
    .await;
    assert_eq!(recreate.status, StatusCode::CONFLICT, "{}", recreate.body);
    assert_eq!(recreate.body["error"]["code"], "PreviewsDepend");
    assert_eq!(
        api.store()
            .get_spec("staging")
            .await
            .unwrap()
            .unwrap()
            .generation,
        1,
        "nothing stored"
    );
    let planned = plan(&api, "staging", &spec, NOW).await;
    assert_eq!(
        planned.body["dependents"],
        json!(["pr-42"]),
        "{}",
        planned.body
    );

    // Once the preview is gone, the base may go.
    set_state(&api, "pr-42", EnvironmentState::Deleted).await;
    let freed = delete(&api, "/environments/staging", NOW).await;
    assert_eq!(freed.status, StatusCode::ACCEPTED, "{}", freed.body);
}
