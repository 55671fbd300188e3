//! The API handler, driven by real API Gateway HTTP API (payload v2) events, over the
//! in-memory store and flows: every route, every error class, and what each writes.

use lambda_http::http::StatusCode;
use serde_json::{Value, json};
use strata_api::SyncRequest;
use strata_core::{EnvironmentState, EnvironmentStatus, OperationKind};
use strata_store::prelude::*;

mod support;
use support::*;

/// The staging example applied at `NOW`, which must be accepted.
async fn apply_staging(api: &TestApi) {
    let applied = put(api, "/environments/staging", &staging_text(), NOW).await;
    assert_eq!(applied.status, StatusCode::ACCEPTED, "{}", applied.body);
}

/// The first `up` (`up-staging-1-0`) ended: its lease given back.
async fn first_up_ended(api: &TestApi) {
    api.store()
        .release("staging", "up-staging-1-0")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_ttl_is_extended_by_its_owner_and_only_where_there_is_one() {
    let api = api();
    let short = staging_text().replace("spec:\n", "spec:\n  ttl: 72h\n");
    assert!(short.contains("ttl: 72h"), "the example gains a TTL");
    assert_eq!(
        put(&api, "/environments/staging", &short, NOW).await.status,
        202
    );
    // Applying made the sync schedule: created now, the TTL's origin.
    let record = api
        .store()
        .get_sync("staging")
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!((record.created_at, record.ttl_extension), (NOW, 0));

    let extend = |by: &str| {
        event(
            "POST",
            "/environments/staging/ttl",
            Some("application/json"),
            Some(format!(r#"{{"extendBy": "{by}"}}"#).into_bytes().leak()),
        )
    };
    let answer = call(&api, extend("24h"), NOW + 100).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["expiresAt"], NOW + 96 * 3600);
    let answer = call(&api, extend("30m"), NOW + 200).await;
    assert_eq!(answer.body["expiresAt"], NOW + 96 * 3600 + 1800);
    assert_eq!(answer.body["extendedBy"], 86_400 + 1800);
    let history = api.store().history("staging", 1, None).await.unwrap();
    assert_eq!(history.items[0].kind, "TtlExtended");
    assert_eq!(history.items[0].actor, ALICE);

    // Out of range, and an environment without a TTL: 400 naming the field.
    let answer = call(&api, extend("31d"), NOW + 300).await;
    assert_eq!(error_paths(&answer.body), ["extendBy"]);
    assert_eq!(
        put(
            &api,
            "/environments/forever",
            &staging_text().replace("name: staging", "name: forever"),
            NOW
        )
        .await
        .status,
        202
    );
    let answer = call(
        &api,
        event(
            "POST",
            "/environments/forever/ttl",
            Some("application/json"),
            Some(br#"{"extendBy": "24h"}"#),
        ),
        NOW,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_paths(&answer.body), ["spec.ttl"]);
    assert_eq!(
        api.store()
            .get_sync("forever")
            .await
            .unwrap()
            .unwrap()
            .value
            .ttl_extension,
        0
    );
}

#[tokio::test]
async fn sync_now_is_refused_while_an_operation_runs_and_otherwise_handed_to_the_sync_function() {
    let api = api();
    let two_hours = staging_text().replace("spec:\n", "spec:\n  ttl: 2h\n");
    assert_eq!(
        put(&api, "/environments/staging", &two_hours, NOW)
            .await
            .status,
        202
    );
    let sync = |name: &str| event("POST", &format!("/environments/{name}/sync"), None, None);

    // The apply's execution holds the lease: 409 naming it, and nothing is recorded.
    let answer = call(&api, sync("staging"), NOW + 10).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "OperationInProgress");
    let up = answer.body["error"]["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(up.starts_with("up-staging-1-"), "{up}");
    api.store().release("staging", &up).await.unwrap();

    // Free: handed to the sync function at once, under a run named by the request id; the
    // request is in the history and nothing else ran here.
    let answer = call(&api, sync("staging"), NOW + 3700).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.body["run"], "now-req-1");
    assert_eq!(answer.body["resultActor"], "sync/now-req-1");
    assert_eq!(
        api.syncs().requested(),
        [SyncRequest {
            environment: "staging".into(),
            run: Some("now-req-1".into()),
            requested_by: Some(ALICE.into()),
        }]
    );
    let history = api.store().history("staging", 1, None).await.unwrap();
    assert_eq!(history.items[0].kind, "SyncRequested");
    assert_eq!(history.items[0].actor, ALICE);
    assert!(api.flows().started().len() == 1, "only the apply's up");

    let answer = call(&api, sync("missing"), NOW).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["error"]["code"], "EnvironmentNotFound");
}

#[tokio::test]
async fn every_error_class_is_a_clear_4xx_and_writes_nothing() {
    let spec = staging_text();
    let alias_bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let broken = spec
        .replace("cidr: 10.40.0.0/16", "cidr: 10.40.0.0/8")
        .replace("storageGiB: 20", "storageGiB: 10\n    colour: blue");
    let huge = format!("{spec}\n#{}", "x".repeat(300 * 1024));
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &str,
        &str,
        &str,
        Option<&str>,
        Option<Vec<u8>>,
        u16,
        &str,
        Vec<&str>,
    )> = vec![
        (
            "unknown path",
            "GET",
            "/nowhere",
            None,
            None,
            404,
            "NoSuchRoute",
            vec![],
        ),
        (
            "unknown sub-resource",
            "GET",
            "/environments/staging/logs",
            None,
            None,
            404,
            "NoSuchRoute",
            vec![],
        ),
        (
            "empty name",
            "GET",
            "/environments/",
            None,
            None,
            404,
            "NoSuchRoute",
            vec![],
        ),
        (
            "method on an environment",
            "PATCH",
            "/environments/staging",
            None,
            None,
            405,
            "MethodNotAllowed",
            vec![],
        ),
        (
            "method on the collection",
            "POST",
            "/environments",
            None,
            None,
            405,
            "MethodNotAllowed",
            vec![],
        ),
        (
            "bad name",
            "GET",
            "/environments/Bad_Name",
            None,
            None,
            400,
            "InvalidRequest",
            vec!["name"],
        ),
        (
            "missing environment",
            "GET",
            "/environments/missing",
            None,
            None,
            404,
            "EnvironmentNotFound",
            vec![],
        ),
        (
            "missing on delete",
            "DELETE",
            "/environments/missing",
            None,
            None,
            404,
            "EnvironmentNotFound",
            vec![],
        ),
        (
            "missing history",
            "GET",
            "/environments/missing/history",
            None,
            None,
            404,
            "EnvironmentNotFound",
            vec![],
        ),
        (
            "limit out of range",
            "GET",
            "/environments?limit=0",
            None,
            None,
            400,
            "InvalidRequest",
            vec!["query.limit"],
        ),
        (
            "limit not a number",
            "GET",
            "/environments/staging/history?limit=many",
            None,
            None,
            400,
            "InvalidRequest",
            vec!["query.limit"],
        ),
        (
            "unknown parameter",
            "GET",
            "/environments/staging?verbose=1",
            None,
            None,
            400,
            "InvalidRequest",
            vec!["query.verbose"],
        ),
        (
            "no content type",
            "PUT",
            "/environments/staging",
            None,
            Some(spec.clone().into_bytes()),
            415,
            "UnsupportedMediaType",
            vec![],
        ),
        (
            "wrong content type",
            "PUT",
            "/environments/staging",
            Some("text/plain"),
            Some(spec.clone().into_bytes()),
            415,
            "UnsupportedMediaType",
            vec![],
        ),
        (
            "wrong content type for plan",
            "POST",
            "/environments/staging/plan",
            Some("application/xml"),
            Some(spec.clone().into_bytes()),
            415,
            "UnsupportedMediaType",
            vec![],
        ),
        (
            "too large",
            "PUT",
            "/environments/staging",
            Some("application/yaml"),
            Some(huge.into_bytes()),
            413,
            "PayloadTooLarge",
            vec![],
        ),
        (
            "every field error",
            "PUT",
            "/environments/staging",
            Some("application/yaml"),
            Some(broken.into_bytes()),
            400,
            "InvalidRequest",
            vec![
                "spec.network.cidr",
                "spec.database.storageGiB",
                "spec.database.colour",
            ],
        ),
        (
            "name differs from the path",
            "PUT",
            "/environments/production",
            Some("application/yaml"),
            Some(spec.clone().into_bytes()),
            400,
            "InvalidRequest",
            vec!["metadata.name"],
        ),
        (
            "not UTF-8",
            "PUT",
            "/environments/staging",
            Some("application/yaml"),
            Some(vec![0xff, 0xfe, 0x00, 0x81]),
            400,
            "InvalidRequest",
            vec!["(body)"],
        ),
        (
            "alias bomb",
            "PUT",
            "/environments/staging",
            Some("application/yaml"),
            Some(alias_bomb.as_bytes().to_vec()),
            400,
            "InvalidRequest",
            vec!["(document)"],
        ),
        (
            "a list where a map belongs",
            "POST",
            "/environments/staging/plan",
            Some("application/json"),
            Some(b"[1, 2, 3]".to_vec()),
            400,
            "InvalidRequest",
            vec![],
        ),
        (
            "empty body",
            "PUT",
            "/environments/staging",
            Some("application/json"),
            None,
            400,
            "InvalidRequest",
            vec![],
        ),
        (
            "allowRecreate of a stateless component",
            "PUT",
            "/environments/staging?allowRecreate=network",
            Some("application/yaml"),
            Some(spec.clone().into_bytes()),
            400,
            "InvalidRequest",
            vec!["query.allowRecreate"],
        ),
        (
            "extension of a missing environment",
            "POST",
            "/environments/missing/ttl",
            Some("application/json"),
            Some(br#"{"extendBy": "24h"}"#.to_vec()),
            404,
            "EnvironmentNotFound",
            vec![],
        ),
        (
            "sync of a missing environment",
            "POST",
            "/environments/missing/sync",
            None,
            None,
            404,
            "EnvironmentNotFound",
            vec![],
        ),
        (
            "extension without a duration",
            "POST",
            "/environments/staging/ttl",
            Some("application/json"),
            Some(br#"{"extendBy": "forever", "reason": "demo"}"#.to_vec()),
            400,
            "InvalidRequest",
            vec!["extendBy", "reason"],
        ),
        (
            "extension not JSON",
            "POST",
            "/environments/staging/ttl",
            Some("application/yaml"),
            Some(b"extendBy: 24h".to_vec()),
            415,
            "UnsupportedMediaType",
            vec![],
        ),
        (
            "allowRecreate of nothing known",
            "PUT",
            "/environments/staging?allowRecreate=databse",
            Some("application/yaml"),
            Some(spec.clone().into_bytes()),
            400,
            "InvalidRequest",
            vec!["query.allowRecreate"],
        ),
    ];
    let api = api();
    for (what, method, target, content_type, body, status, code, fields) in cases {
        let answer = call(
            &api,
            event(method, target, content_type, body.as_deref()),
            NOW,
        )
        .await;
        assert_eq!(answer.status.as_u16(), status, "{what}: {}", answer.body);
        assert_eq!(
            answer.body["error"]["code"], code,
            "{what}: {}",
            answer.body
        );
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && !message.contains("panicked"),
            "{what}: {message}"
        );
        let paths = error_paths(&answer.body);
        for field in &fields {
            assert!(
                paths.iter().any(|p| p == field),
                "{what}: {field} not in {paths:?}"
            );
        }
        if status == 405 {
            assert!(answer.allow.is_some(), "{what}: 405 without Allow");
        }
    }
    // 405 names what is allowed.
    let answer = call(
        &api,
        event("PATCH", "/environments/staging", None, None),
        NOW,
    )
    .await;
    assert_eq!(answer.allow.as_deref(), Some("GET, PUT, DELETE"));
    // Nothing was written and nothing started.
    let listed = get(&api, "/environments", NOW).await;
    assert_eq!(listed.body["items"], json!([]));
    assert!(api.flows().started().is_empty());
    assert!(api.store().get_spec("staging").await.unwrap().is_none());
}

#[tokio::test]
async fn apply_starts_up_once_per_request_and_refuses_while_locked() {
    let api = api();
    let spec = staging_text();

    let first = put(&api, "/environments/staging", &spec, NOW).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert_eq!(first.body["execution"], "up-staging-1-0");
    assert_eq!(first.body["generation"], 1);
    assert_eq!(first.location.as_deref(), Some("/environments/staging"));
    assert_eq!(
        api.flows().started(),
        vec![(
            OperationKind::Up,
            "up-staging-1-0".to_owned(),
            r#"{"environment":"staging","generation":1,"pollSeconds":1}"#.to_owned()
        )]
    );
    let history = get(&api, "/environments/staging/history", NOW).await;
    assert_eq!(history.body["items"][0]["kind"], "ApplyRequested");
    assert_eq!(history.body["items"][0]["actor"], ALICE);
    assert_eq!(history.body["items"][0]["execution"], "up-staging-1-0");

    // The lease is the execution's from the start: the same request again, before or
    // after Begin (which re-takes it as the same holder), is answered with it.
    let store = api.store();
    let holder = store.lease("staging", NOW).await.unwrap().unwrap().holder;
    assert_eq!(holder, "up-staging-1-0");
    let again = put(&api, "/environments/staging", &spec, NOW).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["execution"], "up-staging-1-0");
    assert_eq!(api.flows().started().len(), 1);

    // Begin re-takes the lease: the same request is answered with the running execution...
    store
        .acquire("staging", "up-staging-1-0", 3600, NOW)
        .await
        .unwrap();
    let running = put(&api, "/environments/staging", &spec, NOW + 1).await;
    assert_eq!(running.status, StatusCode::ACCEPTED);
    assert_eq!(running.body["execution"], "up-staging-1-0");
    // ...a different spec, or a delete, is refused naming it, and changes nothing.
    let changed = spec.replace(
        "replicas: 2\n        public: true",
        "replicas: 3\n        public: true",
    );
    let refused = put(&api, "/environments/staging", &changed, NOW + 2).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.body["error"]["code"], "OperationInProgress");
    assert_eq!(refused.body["error"]["execution"], "up-staging-1-0");
    let deleting = delete(&api, "/environments/staging", NOW + 2).await;
    assert_eq!(deleting.status, StatusCode::CONFLICT);
    assert_eq!(
        store.get_spec("staging").await.unwrap().unwrap().generation,
        1
    );
    assert_eq!(api.flows().started().len(), 1);

    // Finish: Ready at generation 1, lease released. The same spec is then a no-op.
    let mut ready = EnvironmentStatus::new(EnvironmentState::Ready, "up succeeded", NOW + 30);
    ready.observed_generation = 1;
    store.put_status("staging", &ready, None).await.unwrap();
    store.release("staging", "up-staging-1-0").await.unwrap();
    let noop = put(&api, "/environments/staging", &spec, NOW + 40).await;
    assert_eq!(noop.status, StatusCode::OK, "{}", noop.body);
    assert_eq!(noop.body["state"], "Ready");
    assert_eq!(api.flows().started().len(), 1);

    // A changed spec is generation 2 and a new execution.
    let second = put(&api, "/environments/staging", &changed, NOW + 50).await;
    assert_eq!(second.status, StatusCode::ACCEPTED);
    assert_eq!(second.body["generation"], 2);
    assert_eq!(second.body["execution"], "up-staging-2-1");

    // GET shows the spec, the status and who runs.
    let got = get(&api, "/environments/staging", NOW + 51).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["generation"], 2);
    assert_eq!(got.body["spec"]["metadata"]["name"], "staging");
    assert_eq!(got.body["status"]["state"], "Ready");
    assert_eq!(got.body["runningExecution"], "up-staging-2-1");
}

#[tokio::test]
async fn a_failed_operation_is_retried_under_a_new_name_and_an_unavailable_start_loses_nothing() {
    let api = api();
    let spec = staging_text();
    api.flows().set_unavailable(true);
    let unavailable = put(&api, "/environments/staging", &spec, NOW).await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unavailable.body["error"]["code"], "ServiceUnavailable");
    let lease = api.store().lease("staging", NOW).await.unwrap();
    assert_eq!(lease, None, "the lease is given back when nothing started");
    // The spec is stored; the retry starts the execution.
    api.flows().set_unavailable(false);
    let retried = put(&api, "/environments/staging", &spec, NOW + 1).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED);
    assert_eq!(retried.body["execution"], "up-staging-1-0");

    // The operation failed: the same spec again retries it under a new name.
    let store = api.store();
    store.release("staging", "up-staging-1-0").await.unwrap();
    let failed = EnvironmentStatus::new(EnvironmentState::Failed, "AwsRejected: ...", NOW + 9);
    store.put_status("staging", &failed, None).await.unwrap();
    let retry = put(&api, "/environments/staging", &spec, NOW + 10).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED);
    assert_eq!(retry.body["execution"], "up-staging-1-1");
    assert_eq!(api.flows().started().len(), 2);
}

#[tokio::test]
async fn a_data_losing_plan_is_refused_unless_allowed_by_name() {
    let api = api();
    let spec = staging_text();
    put(&api, "/environments/staging", &spec, NOW).await;
    let mysql = spec
        .replace("engine: postgres", "engine: mysql")
        .replace("engineVersion: \"16.4\"", "engineVersion: \"8.0.39\"");

    let planned = plan(&api, "staging", &mysql, NOW).await;
    assert_eq!(planned.status, StatusCode::OK, "{}", planned.body);
    assert_eq!(planned.body["refused"], json!(["database"]));
    let database = planned.body["plan"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "database")
        .unwrap();
    assert_eq!(database["action"], "recreate");
    // The blast radius: what depends on the database is updated with it.
    assert!(
        planned.body["summary"].as_str().unwrap().contains("config"),
        "{}",
        planned.body
    );

    let refused = put(&api, "/environments/staging", &mysql, NOW + 1).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.body["error"]["code"], "RecreateRefused");
    assert!(refused.body["error"]["plan"]["components"].is_array());
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allowRecreate=database")
    );
    let stored = api.store().get_spec("staging").await.unwrap().unwrap();
    assert_eq!(stored.generation, 1, "a refused plan stores nothing");

    // The first operation ends; the allowed recreate then starts.
    first_up_ended(&api).await;
    let allowed = put(
        &api,
        "/environments/staging?allowRecreate=database",
        &mysql,
        NOW + 2,
    )
    .await;
    assert_eq!(allowed.status, StatusCode::ACCEPTED, "{}", allowed.body);
    assert_eq!(allowed.body["generation"], 2);
    // The execution tears the recreated components down first.
    let started = api.flows().started();
    let input: Value = serde_json::from_str(&started.last().unwrap().2).unwrap();
    assert_eq!(
        input["recreate"],
        json!(["database", "config", "app", "dns"]),
        "{input}"
    );
}

#[tokio::test]
async fn plans_compare_with_what_is_applied_so_the_running_spec_is_a_resume() {
    let api = api();
    apply_staging(&api).await;
    converged(&api, &staging_text()).await;
    first_up_ended(&api).await;

    // A CIDR change, allowed: stored as generation 2; its up fails before anything moved.
    let moved = staging_text().replace("10.40.0.0/16", "10.41.0.0/16");
    assert_ne!(moved, staging_text(), "the example's CIDR changed");
    let allowed = put(
        &api,
        "/environments/staging?allowRecreate=database",
        &moved,
        NOW + 1,
    )
    .await;
    assert_eq!(allowed.status, 202, "{}", allowed.body);
    let execution = allowed.body["execution"].as_str().unwrap().to_owned();
    api.store().release("staging", &execution).await.unwrap();
    let failed = EnvironmentStatus::new(EnvironmentState::Failed, "AwsRejected", NOW + 2);
    let version = api
        .store()
        .get_status("staging")
        .await
        .unwrap()
        .map(|s| s.version);
    api.store()
        .put_status("staging", &failed, version)
        .await
        .unwrap();

    // The spec that is really running again: nothing to recreate, nothing to allow.
    let back = put(&api, "/environments/staging", &staging_text(), NOW + 3).await;
    assert_eq!(back.status, 202, "{}", back.body);
    let input: Value = serde_json::from_str(&api.flows().started().last().unwrap().2).unwrap();
    assert_eq!(input.get("recreate"), None, "{input}");
}

#[tokio::test]
async fn switching_a_database_to_delete_on_delete_needs_the_same_allowance() {
    let api = api();
    apply_staging(&api).await;
    first_up_ended(&api).await;
    let careless = staging_text().replace("onDelete: snapshot", "onDelete: delete");
    assert_ne!(
        careless,
        staging_text(),
        "the example's database snapshots on delete"
    );
    let refused = put(&api, "/environments/staging", &careless, NOW + 1).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("--allow-recreate database"), "{message}");
}

#[tokio::test]
async fn delete_starts_down_and_a_deleted_environment_is_left_alone() {
    let api = api();
    put(&api, "/environments/staging", &staging_text(), NOW).await;
    let refused = delete(&api, "/environments/staging", NOW + 1).await;
    assert_eq!(
        refused.status,
        StatusCode::CONFLICT,
        "a delete while up runs"
    );
    first_up_ended(&api).await;
    let deleting = delete(&api, "/environments/staging", NOW + 1).await;
    assert_eq!(deleting.status, StatusCode::ACCEPTED, "{}", deleting.body);
    assert_eq!(deleting.body["operation"], "down");
    assert_eq!(deleting.body["execution"], "down-staging-1-0");
    let history = get(&api, "/environments/staging/history?limit=1", NOW).await;
    assert_eq!(history.body["items"][0]["kind"], "DeleteRequested");
    assert_eq!(history.body["items"][0]["actor"], ALICE);
    assert!(
        history.body["next"].is_string(),
        "two events, a page of one"
    );

    let store = api.store();
    store
        .acquire("staging", "down-staging-1-0", 3600, NOW + 2)
        .await
        .unwrap();
    let again = delete(&api, "/environments/staging", NOW + 3).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["execution"], "down-staging-1-0");
    let apply = put(&api, "/environments/staging", &staging_text(), NOW + 3).await;
    assert_eq!(apply.status, StatusCode::CONFLICT, "an up while down runs");

    store.release("staging", "down-staging-1-0").await.unwrap();
    let deleted = EnvironmentStatus::new(EnvironmentState::Deleted, "down succeeded", NOW + 9);
    store.put_status("staging", &deleted, None).await.unwrap();
    let done = delete(&api, "/environments/staging", NOW + 10).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["state"], "Deleted");
    assert_eq!(api.flows().started().len(), 2);
    // The record stays, so `get` and `history` still answer.
    let got = get(&api, "/environments/staging", NOW + 11).await;
    assert_eq!(got.body["status"]["state"], "Deleted");
}

#[tokio::test]
async fn listing_pages_through_environments_with_their_state() {
    let api = api();
    for name in ["alpha", "beta", "gamma"] {
        let spec = staging_text()
            .replace("name: staging\n", &format!("name: {name}\n"))
            .replace(
                "name: staging.example.com",
                &format!("name: {name}.example.com"),
            );
        let answer = put(&api, &format!("/environments/{name}"), &spec, NOW).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    let first = get(&api, "/environments?limit=2", NOW).await;
    let names: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let cursor = first.body["next"].as_str().unwrap();
    let second = call(
        &api,
        event(
            "GET",
            &format!("/environments?limit=2&cursor={cursor}"),
            None,
            None,
        ),
        NOW,
    )
    .await;
    assert_eq!(second.body["items"][0]["name"], "gamma");
    assert_eq!(second.body["next"], Value::Null);
}

#[tokio::test]
async fn an_app_only_change_over_ready_layers_takes_the_deploy_fast_path() {
    use strata_core::{Component, ComponentPhase, ComponentStatus};
    let api = api();
    let spec = staging_text();
    put(&api, "/environments/staging", &spec, NOW).await;
    let store = api.store();
    store.release("staging", "up-staging-1-0").await.unwrap();
    let mut ready = EnvironmentStatus::new(EnvironmentState::Ready, "up done", NOW + 30);
    ready.observed_generation = 1;
    store.put_status("staging", &ready, None).await.unwrap();
    let more_replicas = spec.replace(
        "replicas: 2\n        public: true",
        "replicas: 3\n        public: true",
    );
    let layers_below = [
        Component::Network,
        Component::Storage,
        Component::Cluster,
        Component::Database,
        Component::Config,
    ];
    // One layer below is not Ready: the whole up runs.
    for (i, component) in layers_below.into_iter().enumerate() {
        let phase = if i == 0 {
            ComponentPhase::Failed
        } else {
            ComponentPhase::Ready
        };
        let status = ComponentStatus::new(phase, 1, NOW);
        store
            .put_component("staging", component, &status, None)
            .await
            .unwrap();
    }
    let full = put(&api, "/environments/staging", &more_replicas, NOW + 40).await;
    assert_eq!(full.status, StatusCode::ACCEPTED, "{}", full.body);
    assert_eq!(full.body["scope"], "all");
    let (_, _, input) = api.flows().started().pop().unwrap();
    assert!(!input.contains("scope"), "{input}");

    // Every layer below Ready: an app-only change runs the application layer only.
    let execution = full.body["execution"].as_str().unwrap().to_owned();
    store.release("staging", &execution).await.unwrap();
    let network = store
        .get_component("staging", Component::Network)
        .await
        .unwrap()
        .unwrap();
    let ready_network = ComponentStatus::new(ComponentPhase::Ready, 1, NOW);
    store
        .put_component(
            "staging",
            Component::Network,
            &ready_network,
            Some(network.version),
        )
        .await
        .unwrap();
    let fewer = spec.replace(
        "replicas: 2\n        public: true",
        "replicas: 4\n        public: true",
    );
    let fast = put(&api, "/environments/staging", &fewer, NOW + 50).await;
    assert_eq!(fast.status, StatusCode::ACCEPTED, "{}", fast.body);
    assert_eq!(fast.body["scope"], "application");
    assert_eq!(fast.body["generation"], 3);
    let (_, _, input) = api.flows().started().pop().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"environment": "staging", "generation": 3, "pollSeconds": 1, "scope": "application"})
    );
}

#[tokio::test]
async fn rollback_needs_a_ready_environment_with_a_previous_colour() {
    use strata_core::{Component, ComponentPhase, ComponentStatus};
    let api = api();
    let rollback = || event("POST", "/environments/staging/rollback", None, None);
    let missing = call(&api, rollback(), NOW).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    put(&api, "/environments/staging", &staging_text(), NOW).await;
    let store = api.store();
    // While up runs: refused, naming it.
    let locked = call(&api, rollback(), NOW + 1).await;
    assert_eq!(locked.body["error"]["code"], "OperationInProgress");
    store.release("staging", "up-staging-1-0").await.unwrap();
    let failed = EnvironmentStatus::new(EnvironmentState::Failed, "AwsRejected", NOW + 2);
    store.put_status("staging", &failed, None).await.unwrap();
    let not_ready = call(&api, rollback(), NOW + 3).await;
    assert_eq!(not_ready.status, StatusCode::CONFLICT);
    assert_eq!(not_ready.body["error"]["code"], "RollbackRefused");
    assert!(
        not_ready.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is Failed")
    );

    // Ready, but ui has served one version only.
    let mut ready = EnvironmentStatus::new(EnvironmentState::Ready, "up done", NOW + 4);
    ready.observed_generation = 1;
    store.put_status("staging", &ready, Some(1)).await.unwrap();
    let mut app = ComponentStatus::new(ComponentPhase::Ready, 1, NOW + 4);
    app.outputs.insert("service.ui.color".into(), "blue".into());
    store
        .put_component("staging", Component::App, &app, None)
        .await
        .unwrap();
    let first = call(&api, rollback(), NOW + 5).await;
    assert_eq!(first.body["error"]["code"], "RollbackRefused");
    assert!(
        first.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("service ui has no previous colour"),
        "{}",
        first.body
    );
    assert!(api.flows().started().len() == 1, "nothing started");

    // A second version deployed: the rollback runs up in the rollback scope.
    app.outputs
        .insert("service.ui.previousColor".into(), "green".into());
    store
        .put_component("staging", Component::App, &app, Some(1))
        .await
        .unwrap();
    let accepted = call(&api, rollback(), NOW + 6).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    assert_eq!(accepted.body["execution"], "rollback-staging-1-2");
    assert_eq!(accepted.body["scope"], "rollback");
    let (operation, _, input) = api.flows().started().pop().unwrap();
    assert_eq!(operation, OperationKind::Up);
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap()["scope"],
        "rollback"
    );
    let again = call(&api, rollback(), NOW + 7).await;
    assert_eq!(
        again.status,
        StatusCode::ACCEPTED,
        "the same request, the same execution"
    );
    assert_eq!(again.body["execution"], "rollback-staging-1-2");
    let history = get(&api, "/environments/staging/history", NOW).await;
    assert_eq!(history.body["items"][0]["kind"], "RollbackRequested");
}

#[tokio::test]
async fn an_apply_keeps_the_image_index_an_ecr_push_reads() {
    const UI: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/ui";
    const WEB: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web";
    let api = api();
    let spec = staging_text();
    put(&api, "/environments/staging", &spec, NOW).await;
    let store = api.store();
    assert_eq!(store.environments_using(UI).await.unwrap(), ["staging"]);
    store.release("staging", "up-staging-1-0").await.unwrap();

    // The ui moves to another repository: the index follows, the old entry goes.
    let moved = spec.replace("shop/ui", "shop/web");
    let answer = put(&api, "/environments/staging", &moved, NOW + 60).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert!(store.environments_using(UI).await.unwrap().is_empty());
    assert_eq!(store.environments_using(WEB).await.unwrap(), ["staging"]);

    // A refused apply writes nothing, the index included.
    let refused = put(
        &api,
        "/environments/staging",
        &moved.replace("shop/web", "shop/x"),
        NOW + 90,
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(store.environments_using(WEB).await.unwrap(), ["staging"]);
}

#[tokio::test]
async fn a_spec_naming_a_secret_outside_the_operators_prefix_is_refused_and_stores_nothing() {
    use strata_store::prelude::*;
    let api = api();
    let ours = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:strata/shop/payments-AbCdEf";
    // Another environment's RDS master secret, and a secret of another account.
    for foreign in [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0a1b2c-Xy12",
        "arn:aws:secretsmanager:eu-west-1:210987654321:secret:strata/shop/payments-AbCdEf",
    ] {
        let spec = staging_text().replace(ours, foreign);
        for (method, target) in [
            ("PUT", "/environments/staging"),
            ("POST", "/environments/staging/plan"),
        ] {
            let body = spec.as_bytes();
            let answer = call(
                &api,
                event(method, target, Some("application/yaml"), Some(body)),
                NOW,
            )
            .await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{method} {foreign}");
            assert_eq!(
                error_paths(&answer.body),
                ["spec.app.services[1].env[1].secretArn"]
            );
            let message = answer.body["error"]["fields"][0]["message"]
                .as_str()
                .unwrap();
            assert!(
                message.starts_with("PAYMENTS_API_KEY of service api:"),
                "{message}"
            );
        }
    }
    assert!(api.store().get_spec("staging").await.unwrap().is_none());
    // The allowed one is accepted.
    apply_staging(&api).await;
}

#[tokio::test]
async fn a_request_without_an_iam_identity_is_refused_unless_on_the_local_stack() {
    use strata_store::prelude::*;
    let anonymous = |method: &str, target: &str, body: Option<&[u8]>| {
        let mut e = event(method, target, Some("application/yaml"), body);
        e["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        e
    };
    let spec = staging_text();
    let deployed = api();
    for (method, target, body) in [
        ("GET", "/environments", None),
        ("PUT", "/environments/staging", Some(spec.as_bytes())),
    ] {
        let answer = call(&deployed, anonymous(method, target, body), NOW).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {target}");
        assert_eq!(answer.body["error"]["code"], "NoIdentity");
    }
    assert!(
        deployed
            .store()
            .get_spec("staging")
            .await
            .unwrap()
            .is_none()
    );

    let local = api().with_callers(strata_api::Callers::LocalStack);
    let answer = call(
        &local,
        anonymous("PUT", "/environments/staging", Some(spec.as_bytes())),
        NOW,
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let history = call(
        &local,
        anonymous("GET", "/environments/staging/history", None),
        NOW,
    )
    .await;
    assert_eq!(
        history.body["items"][0]["actor"], "local (the local stack: no IAM)",
        "{}",
        history.body
    );
}

#[tokio::test]
async fn a_cursor_no_listing_gave_out_is_a_400_naming_it() {
    let api = api();
    apply_staging(&api).await;
    for target in [
        "/environments?cursor=..%2Fnot-a-name",
        "/environments/staging/history?cursor=zzz",
        "/environments/staging/history?cursor=EVENT%23..%2Fx",
    ] {
        let answer = get(&api, target, NOW).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{target}");
        assert_eq!(error_paths(&answer.body), ["query.cursor"], "{target}");
    }
    // A cursor a page gave out is taken.
    use strata_store::prelude::*;
    let event_at = |at| strata_core::Event {
        at,
        kind: "Note".into(),
        message: "for paging".into(),
        actor: ALICE.into(),
        execution: None,
    };
    api.store()
        .append_event("staging", &event_at(NOW + 1))
        .await
        .unwrap();
    api.store()
        .append_event("staging", &event_at(NOW + 2))
        .await
        .unwrap();
    let history = get(&api, "/environments/staging/history?limit=1", NOW).await;
    let next = history.body["next"].as_str().expect("more than one event");
    let target = format!(
        "/environments/staging/history?cursor={}",
        next.replace('#', "%23")
    );
    let answer = get(&api, &target, NOW).await;
    assert_eq!(answer.status, StatusCode::OK, "{target}");
}

#[tokio::test]
async fn cancel_stops_the_running_operation_and_the_next_apply_gets_a_new_execution() {
    let api = api();
    let cancel = |name: &str| event("POST", &format!("/environments/{name}/cancel"), None, None);
    assert_eq!(call(&api, cancel("staging"), NOW).await.status, 404);

    let applied = put(&api, "/environments/staging", &staging_text(), NOW).await;
    assert_eq!(applied.status, 202, "{}", applied.body);
    let execution = applied.body["execution"].as_str().unwrap().to_owned();

    let answer = call(&api, cancel("staging"), NOW + 5).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["cancelled"], execution.as_str());
    assert_eq!(answer.body["ended"], "ABORTED");
    assert_eq!(api.flows().stopped(), [execution.as_str()]);
    assert_eq!(api.store().lease("staging", NOW + 5).await.unwrap(), None);
    let history = api.store().history("staging", 1, None).await.unwrap();
    assert_eq!(history.items[0].kind, "OperationCancelled");
    assert_eq!(history.items[0].actor, ALICE);

    // Nothing runs now: said so, with nothing written.
    let answer = call(&api, cancel("staging"), NOW + 6).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["cancelled"], Value::Null);

    // The same spec again resumes under a new name (Step Functions starts a name once).
    let again = put(&api, "/environments/staging", &staging_text(), NOW + 7).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_ne!(again.body["execution"], execution.as_str());
}

/// Two identical applies at once: the second read the lease after the first reserved it
/// but before the first stored the spec. It waits for the spec and is told about the
/// running operation (202); a different spec stored meanwhile is refused (409).
#[tokio::test]
async fn an_identical_apply_that_finds_the_lease_before_the_spec_is_the_same_operation() {
    for (stored, wanted) in [
        (staging_text(), StatusCode::ACCEPTED),
        (
            staging_text().replace("replicas: 2", "replicas: 3"),
            StatusCode::CONFLICT,
        ),
    ] {
        let api = api();
        let store = api.store();
        // The first request, between its two writes: the lease reserved, the spec not yet.
        store
            .acquire("staging", "up-staging-1-0", 3600, NOW)
            .await
            .unwrap();
        let first = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let env = strata_core::Environment::parse(&stored).unwrap();
            store.put_spec(&env, None, NOW).await.unwrap();
        };
        let spec = staging_text();
        let second = put(&api, "/environments/staging", &spec, NOW);
        let ((), second) = tokio::join!(first, second);
        assert_eq!(second.status, wanted, "{}", second.body);
        if wanted == StatusCode::ACCEPTED {
            assert_eq!(second.body["execution"], "up-staging-1-0");
            assert!(api.flows().started().is_empty(), "nothing started twice");
        } else {
            assert_eq!(second.body["error"]["code"], "OperationInProgress");
        }
    }
}

#[tokio::test]
async fn custom_components_of_kind_cloud_formation_are_planned_and_applied() {
    use strata_store::prelude::*;
    let api = api();
    let spec = format!(
        "{}  components:\n    - name: queue\n      dependsOn: [network]\n      cloudFormation:\n        template: \"Resources: {{Q: {{Type: AWS::SQS::Queue}}}}\"\n",
        staging_text()
    );
    let planned = plan(&api, "staging", &spec, NOW).await;
    assert_eq!(planned.status, StatusCode::OK, "{}", planned.body);
    let queue = planned.body["plan"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "queue")
        .expect("the plan lists the custom component");
    assert_eq!(queue["action"], "create");

    let answer = put(&api, "/environments/staging", &spec, NOW).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let stored = api.store().get_spec("staging").await.unwrap().unwrap();
    assert!(
        stored.environment.spec.components[0]
            .cloud_formation
            .is_some()
    );
}
