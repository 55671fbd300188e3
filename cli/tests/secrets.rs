//! No secret value leaves Secrets Manager and the cluster's Secrets. An environment goes
//! through what a user does with it (apply, a sync that reads live resources, a change of
//! the app, delete) through the CLI; then every state-table item, every execution's history
//! (read field by field: the SDK's Debug output redacts inputs and outputs), every line the
//! functions and moto logged and every event on the bus is searched for the database
//! password and the service's secret value, as written and as Kubernetes encodes it
//! (`strata_localstack::secrets`).

use strata_localstack::secrets::{self, SecretSearch};
use strata_testkit::cli::Strata;
use strata_testkit::example_as;
use strata_testkit::local_stack;

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_value_reaches_the_table_an_execution_a_log_line_or_an_event() {
    let mut env = example_as("sealed");
    let local = local_stack::local(&env).await;
    let search = SecretSearch::start(&local.stack).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&local.regional);
    // A value of its own for the service's secret (the stand-in's is shared by all).
    let service_secret = env.spec.app.services[1].env[1].secret_arn.clone().unwrap();
    let service_value = format!("payments-{}", std::process::id() * 7919);
    secrets
        .put_secret_value()
        .secret_id(service_secret.split(":secret:").nth(1).unwrap())
        .secret_string(&service_value)
        .send()
        .await
        .unwrap();

    local.apply(&STRATA, "sealed.json", &env);
    let body = STRATA.get(&local.endpoint, "sealed");
    let master = body["status"]["components"]["database"]["outputs"]["masterUserSecretArn"]
        .as_str()
        .unwrap_or_else(|| panic!("the database names its secret: {body}"))
        .to_owned();
    let master = secrets
        .get_secret_value()
        .secret_id(&master)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    let master: serde_json::Value = serde_json::from_str(&master).unwrap();
    let password = master["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 8, "a real password to look for");
    // The search can find what it looks for: the cluster's Secrets hold both values.
    let sim = local.stack.cluster_simulator();
    let in_cluster = format!(
        "{} {}",
        sim.object("strata-sealed", "v1", "secrets", "sealed", "database")
            .expect("the database Secret"),
        sim.object("strata-sealed", "v1", "secrets", "sealed", "api-env")
            .expect("the api service's Secret")
    );
    assert!(
        in_cluster.contains(&secrets::base64(&password)),
        "{in_cluster}"
    );
    assert!(
        in_cluster.contains(&secrets::base64(&service_value)),
        "{in_cluster}"
    );

    let synced = STRATA.run(&local.endpoint, &["sync", "sealed"]);
    assert_eq!(synced.code, 0, "{}", synced.err);
    env.spec.app.services[1].replicas = 3;
    let changed = local.write("sealed-2.json", &env);
    let applied = STRATA.run(&local.endpoint, &["apply", "-f", &changed, "--wait"]);
    assert_eq!(applied.code, 0, "{}", applied.err);
    let deleted = STRATA.run(&local.endpoint, &["delete", "sealed", "--wait"]);
    assert_eq!(deleted.code, 0, "{}", deleted.err);
    assert_eq!(
        STRATA.settled(&local.endpoint, "sealed")["status"]["state"],
        "Deleted"
    );

    // The environment's name is in every kind of place searched: the control that the search
    // sees into each.
    let searched = search
        .assert_clean(&local.stack, &[&password, &service_value], "sealed")
        .await;
    assert!(
        searched.executions >= 3
            && searched.log_lines > 100
            && searched.events >= 4
            && searched.items > 10,
        "{searched:?}"
    );
}
