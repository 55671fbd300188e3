//! An older CLI reads a newer control plane's answers: every response body ignores fields it
//! does not know, at the top and inside, and an unknown error code reads as `Unknown`.
//! Requests stay strict: an unknown field in a preview request is refused.

use serde_json::{Value, json};
use strata_api_types::{
    Accepted, EnvironmentList, EnvironmentView, ErrorBody, ErrorCode, HistoryPage, PreviewRequest,
};
use strata_core::{EnvironmentState, EnvironmentStatus};

/// `body` with a field no release has written yet, at the top and in every object inside.
fn with_added_fields(mut body: Value) -> Value {
    fn add(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for inner in map.values_mut() {
                    add(inner);
                }
                map.insert("addedInALaterRelease".into(), json!({"any": ["shape"]}));
            }
            Value::Array(items) => items.iter_mut().for_each(add),
            _ => {}
        }
    }
    // The spec inside a view is the user's document, strict on its own terms.
    let spec = body.get_mut("spec").map(Value::take);
    add(&mut body);
    if let Some(spec) = spec {
        body["spec"] = spec;
    }
    body
}

#[test]
fn responses_tolerate_fields_a_newer_control_plane_adds() {
    let spec = strata_testkit::staging();
    let view = EnvironmentView {
        name: "staging".into(),
        generation: 3,
        updated_at: 100,
        spec: spec.clone(),
        status: Some(EnvironmentStatus::new(
            EnvironmentState::Ready,
            "up done",
            100,
        )),
        running_execution: None,
        cost: Some(strata_core::cost::estimate(&spec)),
        sleep: None,
    };
    let newer = with_added_fields(serde_json::to_value(&view).unwrap());
    let read: EnvironmentView = serde_json::from_value(newer).unwrap();
    assert_eq!(read, view);

    let list: EnvironmentList = serde_json::from_value(with_added_fields(
        json!({"items": [{"name": "staging", "generation": 3, "updatedAt": 100, "state": "Ready", "message": "up done"}], "next": null}),
    ))
    .unwrap();
    assert_eq!(list.items[0].name, "staging");
    let accepted: Accepted = serde_json::from_value(with_added_fields(json!({
        "environment": "staging", "operation": "up", "generation": 3,
        "execution": "up-staging-3-7", "statusUrl": "/environments/staging"
    })))
    .unwrap();
    assert_eq!(accepted.execution, "up-staging-3-7");
    let history: HistoryPage =
        serde_json::from_value(with_added_fields(json!({"items": [], "next": null}))).unwrap();
    assert!(history.items.is_empty());

    // A code this release does not know, from a newer control plane.
    let error: ErrorBody = serde_json::from_value(with_added_fields(json!({
        "error": {"code": "QuotaExhausted", "message": "too many environments", "fields": []}
    })))
    .unwrap();
    assert_eq!(error.error.code, ErrorCode::Unknown);
    assert_eq!(error.error.message, "too many environments");
}

#[test]
fn requests_stay_strict() {
    let refused = serde_json::from_value::<PreviewRequest>(json!({
        "name": "pr-1", "ttl": "4h", "set": {}, "share": "cluster", "database": "snapshot",
        "addedInALaterRelease": true
    }))
    .unwrap_err();
    assert!(
        refused.to_string().contains("addedInALaterRelease"),
        "{refused}"
    );
}
