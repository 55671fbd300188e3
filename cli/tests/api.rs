//! The `strata` command against the API function on the local stack, as a user runs it:
//! requests go through cargo-lambda's function URL (SigV4-signed), the API starts the real
//! state machines, and the commands' output and exit codes say what happened.

use serde_json::Value;
use strata_localstack::{LocalStack, Options};
use strata_testkit::cli::{Ran, Strata, ran};

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

/// `strata` against the API function's endpoint; unlike `Strata::run`, it prints nothing.
struct Cli {
    endpoint: String,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Ran {
        ran(STRATA.command(args).env("STRATA_ENDPOINT", &self.endpoint))
    }
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_watch_get_plan_history_and_delete_through_the_api_function_url() {
    let stack = LocalStack::start(Options::default()).await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let staging = strata_testkit::examples::staging_text();
    let env = strata_core::Environment::parse(&staging).unwrap();
    stack.stand_in_for(&env).await.unwrap();
    let cli = Cli {
        endpoint: stack.function_url("ApiFunction").unwrap(),
    };

    // apply --wait follows the execution component by component and ends Ready.
    let spec = strata_testkit::examples::path("staging.yaml")
        .display()
        .to_string();
    let applied = cli.run(&["apply", "-f", &spec, "--wait"]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.out, applied.err);
    // Both sides' releases and contracts, the control plane's read from its answer.
    let version = cli.run(&["version"]);
    assert_eq!(version.code, 0, "{}", version.err);
    let release = env!("CARGO_PKG_VERSION");
    let contract = strata_api_types::contract::CONTRACT;
    assert!(
        version
            .out
            .contains(&format!("strata {release} (API contract {contract})"))
            && version.out.contains(&format!(
                "control plane {release} (API contract {contract}) at "
            )),
        "{}",
        version.out
    );
    assert!(
        applied
            .out
            .contains("staging: applying generation 1 (execution up-staging-1-0)"),
        "{}",
        applied.out
    );
    for component in ["network", "cluster", "database", "config", "app", "dns"] {
        assert!(
            applied
                .out
                .lines()
                .any(|l| l.contains(component) && l.ends_with("ready")),
            "{component} never shown Ready:\n{}",
            applied.out
        );
    }
    assert!(
        applied.out.contains("staging: Ready after"),
        "{}",
        applied.out
    );

    // get: the table, and the API's own answer as JSON and YAML.
    let table = cli.run(&["get", "staging"]);
    assert_eq!(table.code, 0, "{}", table.err);
    assert!(table.out.contains("state        Ready"), "{}", table.out);
    assert!(
        table
            .out
            .contains("ingress      http://staging.example.com"),
        "{}",
        table.out
    );
    let json = cli.run(&["get", "staging", "-o", "json"]);
    let body: Value = serde_json::from_str(&json.out).unwrap();
    assert_eq!(body["status"]["state"], "Ready");
    assert_eq!(body["status"]["observedGeneration"], 1);
    assert_eq!(body["status"]["components"]["app"]["phase"], "ready");
    let yaml = cli.run(&["get", "staging", "-o", "yaml"]);
    assert!(yaml.out.contains("state: Ready"), "{}", yaml.out);
    let listed = cli.run(&["get"]);
    assert!(
        listed
            .out
            .lines()
            .any(|l| l.starts_with("staging") && l.contains("Ready")),
        "{}",
        listed.out
    );

    // The same spec again starts nothing.
    let again = cli.run(&["apply", "-f", &spec]);
    assert_eq!(again.code, 0, "{}", again.err);
    assert!(again.out.contains("nothing to do"), "{}", again.out);

    // staging has no TTL: nothing to extend, and the field is named.
    let extend = cli.run(&["extend", "staging", "--by", "24h"]);
    assert_eq!(extend.code, 1, "{}", extend.out);
    assert!(
        extend
            .err
            .contains("spec.ttl: environment staging has no TTL to extend"),
        "{}",
        extend.err
    );

    // Sync now, through the API function: in sync, and one history event says so.
    let synced = cli.run(&["sync", "staging"]);
    assert_eq!(synced.code, 0, "{}", synced.err);
    assert_eq!(synced.out.trim(), "staging: in sync", "{}", synced.out);
    let history = cli.run(&["history", "staging"]);
    assert!(history.out.contains("in sync; no TTL"), "{}", history.out);

    // One version deployed: nothing to roll back to, refused before anything starts.
    let early = cli.run(&["rollback", "staging"]);
    assert_eq!(early.code, 1, "{}", early.out);
    assert!(
        early.err.contains("RollbackRefused, HTTP 409"),
        "{}",
        early.err
    );
    assert!(
        early.err.contains("service ui has no previous colour"),
        "{}",
        early.err
    );

    // An app-only change takes the deploy fast path: only app and dns run. A newer ui
    // image was pushed meanwhile, so ui goes green on it.
    stack
        .push_image("eu-west-1", "shop/ui", "1.4.2")
        .await
        .unwrap();
    let scaled = write(
        &files,
        "staging-scaled.yaml",
        &staging.replace(
            "replicas: 2\n        public: true",
            "replicas: 3\n        public: true",
        ),
    );
    let fast = cli.run(&["apply", "-f", &scaled, "--wait"]);
    assert_eq!(fast.code, 0, "{}\n{}", fast.out, fast.err);
    assert!(
        fast.out.contains("generation 2 (execution up-staging-2-")
            && fast.out.contains("application layer only"),
        "{}",
        fast.out
    );
    for below in ["network", "storage", "cluster", "database", "config"] {
        assert!(
            !fast.out.lines().any(|l| l.contains(&format!("s  {below}"))),
            "{below} ran on the fast path:\n{}",
            fast.out
        );
    }
    assert!(fast.out.contains("staging: Ready after"), "{}", fast.out);
    let scaled_status: Value =
        serde_json::from_str(&cli.run(&["get", "staging", "-o", "json"]).out).unwrap();
    assert_eq!(scaled_status["status"]["observedGeneration"], 2);
    assert_eq!(
        scaled_status["status"]["components"]["network"]["observedGeneration"],
        1
    );
    assert_eq!(
        scaled_status["status"]["components"]["app"]["observedGeneration"],
        2
    );
    let app = &scaled_status["status"]["components"]["app"]["outputs"];
    assert_eq!(app["service.ui.version"], "1.4.2");
    assert_eq!(app["service.ui.color"], "green");

    // rollback: blue (1.4.0, still scaled) serves again, through the same state machine.
    let rolled = cli.run(&["rollback", "staging", "--wait"]);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.out, rolled.err);
    assert!(
        rolled.out.contains("(execution rollback-staging-2-"),
        "{}",
        rolled.out
    );
    let back: Value =
        serde_json::from_str(&cli.run(&["get", "staging", "-o", "json"]).out).unwrap();
    assert_eq!(back["status"]["state"], "Ready");
    let app = &back["status"]["components"]["app"]["outputs"];
    assert_eq!(app["service.ui.color"], "blue");
    assert_eq!(app["service.ui.previousColor"], "green");
    assert_eq!(app["service.ui.version"], "1.4.0");
    let service = stack
        .cluster_simulator()
        .object("strata-staging", "v1", "services", "staging", "ui")
        .unwrap();
    assert_eq!(service["spec"]["selector"]["strata.dev/color"], "blue");

    // A data-losing plan: shown by plan, refused by apply with the API's 409, nothing stored.
    let mysql = write(
        &files,
        "staging-mysql.yaml",
        &staging
            .replace("engine: postgres", "engine: mysql")
            .replace("engineVersion: \"16.4\"", "engineVersion: \"8.0.39\""),
    );
    let plan = cli.run(&["plan", "-f", &mysql]);
    assert_eq!(plan.code, 0, "{}", plan.err);
    assert!(plan.out.contains("database  recreate"), "{}", plan.out);
    assert!(plan.out.contains("refused: database"), "{}", plan.out);
    let refused = cli.run(&["apply", "-f", &mysql]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.err.contains("RecreateRefused, HTTP 409"),
        "{}",
        refused.err
    );
    let unchanged: Value =
        serde_json::from_str(&cli.run(&["get", "staging", "-o", "json"]).out).unwrap();
    assert_eq!(unchanged["generation"], 2);

    // Errors the API reports, each with its message and exit code.
    let missing = cli.run(&["get", "nowhere"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.err.contains("EnvironmentNotFound, HTTP 404"),
        "{}",
        missing.err
    );
    let bad = cli.run(&["history", "Not_A_Name"]);
    assert_eq!(bad.code, 1);
    assert!(bad.err.contains("name: must be"), "{}", bad.err);

    // history: who asked, and what the operation did.
    let history = cli.run(&["history", "staging"]);
    assert_eq!(history.code, 0, "{}", history.err);
    for kind in [
        "ApplyRequested",
        "RollbackRequested",
        "OperationStarted",
        "Ready",
    ] {
        assert!(history.out.contains(kind), "{kind}:\n{}", history.out);
    }

    // delete --wait ends Deleted; a delete while it runs is refused naming it.
    let deleting = cli.run(&["delete", "staging"]);
    assert_eq!(deleting.code, 0, "{}", deleting.err);
    assert!(
        deleting.out.contains("execution down-staging-2-"),
        "{}",
        deleting.out
    );
    let locked = cli.run(&["apply", "-f", &mysql, "--allow-recreate", "database"]);
    assert_eq!(locked.code, 1, "{}", locked.out);
    assert!(
        locked.err.contains("OperationInProgress, HTTP 409"),
        "{}",
        locked.err
    );
    assert!(
        locked.err.contains("running: down-staging-2-"),
        "{}",
        locked.err
    );
    let watched = cli.run(&["watch", "staging"]);
    assert_eq!(watched.code, 0, "{}\n{}", watched.out, watched.err);
    assert!(
        watched.out.contains("staging: Deleted after"),
        "{}",
        watched.out
    );
    let deleted: Value =
        serde_json::from_str(&cli.run(&["get", "staging", "-o", "json"]).out).unwrap();
    assert_eq!(deleted["status"]["state"], "Deleted");
    // The endpoint can come from a deployed stack's ApiEndpoint output (CloudFormation).
    let cloudformation = aws_sdk_cloudformation::Client::new(&stack.sdk_config());
    cloudformation
        .create_stack()
        .stack_name("strata")
        .template_body(format!(
            r#"{{"Resources": {{"Marker": {{"Type": "AWS::SQS::Queue"}}}},
                "Outputs": {{"ApiEndpoint": {{"Value": "{}"}}}}}}"#,
            cli.endpoint
        ))
        .send()
        .await
        .unwrap();
    let by_stack = ran(STRATA
        .command(&["get", "staging", "--stack", "strata"])
        .env("AWS_ENDPOINT_URL", stack.endpoint()));
    assert!(
        by_stack.out.contains("state        Deleted"),
        "{}{}",
        by_stack.out,
        by_stack.err
    );
    let no_stack = ran(STRATA
        .command(&["get", "--stack", "nowhere"])
        .env("AWS_ENDPOINT_URL", stack.endpoint()));
    assert_eq!(no_stack.code, 2);
    assert!(
        no_stack.err.starts_with("error: stack nowhere: "),
        "{}",
        no_stack.err
    );

    // watch with nothing running says so and exits by the state.
    let idle = cli.run(&["watch", "staging"]);
    assert_eq!(idle.code, 0);
    assert!(
        idle.out.contains("no operation running; Deleted"),
        "{}",
        idle.out
    );
}

#[test]
fn without_an_endpoint_the_cli_says_what_is_missing() {
    // `version` still answers for this side.
    let version = ran(&mut STRATA.command(&["version"]));
    assert_eq!(version.code, 0, "{}", version.err);
    assert!(
        version.out.starts_with("strata ")
            && version.out.contains("control plane: none configured"),
        "{}",
        version.out
    );
    let missing = ran(&mut STRATA.command(&["get"]));
    assert_eq!(missing.code, 2);
    assert!(
        missing.err.contains("pass --endpoint or --stack"),
        "{}",
        missing.err
    );
    // An endpoint nobody listens on: a clear error naming it, not a panic.
    let refused = ran(&mut STRATA.command(&["get", "--endpoint", "http://127.0.0.1:9"]));
    assert_eq!(refused.code, 1);
    assert!(
        refused.err.contains("cannot reach http://127.0.0.1:9"),
        "{}",
        refused.err
    );
}
