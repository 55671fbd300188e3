//! `spec.database.restoreFrom` through the API: only a final snapshot this control plane
//! recorded for the environment may be named (DESIGN.md's rule for snapshots).

use lambda_http::http::StatusCode;
use strata_core::Component;
use strata_store::prelude::*;

mod support;
use support::*;

fn restoring(spec: &str, from: &str) -> String {
    spec.replace(
        "    onDelete: snapshot\n",
        &format!("    onDelete: snapshot\n    restoreFrom: {from}\n"),
    )
}

/// `PUT` of `spec` as staging, its database restored from `from`.
async fn apply_restoring(api: &TestApi, spec: &str, from: &str) -> Answer {
    put(api, "/environments/staging", &restoring(spec, from), NOW).await
}

#[tokio::test]
async fn a_new_database_is_restored_only_from_a_snapshot_recorded_for_it() {
    let api = api();
    let spec = staging_text();
    assert!(restoring(&spec, "latest").contains("restoreFrom: latest"));

    // Nothing recorded yet: neither latest nor a named snapshot; nothing is stored.
    for from in ["latest", "strata-other-final-g1-1"] {
        let refused = apply_restoring(&api, &spec, from).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(error_paths(&refused.body), ["spec.database.restoreFrom"]);
        assert!(api.store().get_spec("staging").await.unwrap().is_none());
    }
    let bad = apply_restoring(&api, &spec, "not_an_id").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_paths(&bad.body), ["spec.database.restoreFrom"]);

    // A down recorded a final snapshot: now it may be named, and others still not.
    let mut deleted =
        strata_core::ComponentStatus::new(strata_core::status::ComponentPhase::Deleted, 1, NOW);
    deleted.resource_ids.insert(
        strata_core::snapshots::record_key("strata-staging-final-g1-5"),
        "5".into(),
    );
    deleted
        .outputs
        .insert("finalSnapshotId".into(), "strata-staging-final-g1-5".into());
    api.store()
        .put_component("staging", Component::Database, &deleted, None)
        .await
        .unwrap();
    let refused = apply_restoring(&api, &spec, "strata-other-final-g1-1").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let message = refused.body["error"]["fields"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("recorded: strata-staging-final-g1-5"),
        "{message}"
    );
    let accepted = apply_restoring(&api, &spec, "strata-staging-final-g1-5").await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
}
