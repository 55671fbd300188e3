//! No secret value leaves Secrets Manager and the cluster's Secrets. An environment goes
//! through what a user does with it (apply, a sync that reads live resources, a change of
//! the app, delete) through the CLI; then every state-table item, every event of every
//! execution's history, every line the functions logged and every event on the bus is
//! searched for the database password and the service's secret value, as written and as
//! Kubernetes encodes it (base64).

use aws_sdk_dynamodb::types::AttributeValue;
use strata_localstack::LocalStack;

mod support;
use support::{example_as, settled, strata, write};

/// An SQS queue receiving every event Strata puts on its bus.
async fn event_queue(stack: &LocalStack) -> (aws_sdk_sqs::Client, String) {
    let config = stack.sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name("every-strata-event")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = "arn:aws:sqs:us-east-1:123456789012:every-strata-event";
    let events = aws_sdk_eventbridge::Client::new(&config);
    let bus = stack.event_bus_name("EventBus").unwrap();
    events
        .put_rule()
        .name("everything")
        .event_bus_name(bus)
        .event_pattern(r#"{"source": ["strata"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("everything")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (sqs, url)
}

/// Base64 as Kubernetes writes a Secret's data.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

/// Where each needle appears in `haystack` (named `what`).
fn hits(what: &str, haystack: &str, needles: &[(String, String)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, value)| haystack.contains(value.as_str()))
        .map(|(name, _)| format!("{name} in {what}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_value_reaches_the_table_an_execution_a_log_line_or_an_event() {
    let mut env = example_as("sealed");
    let support::Local {
        stack,
        files,
        endpoint,
        regional,
    } = support::local(&env).await;
    let (sqs, queue) = event_queue(&stack).await;
    let config = stack.sdk_config();
    let secrets = aws_sdk_secretsmanager::Client::new(&regional);
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

    let first = write(&files, "sealed.json", &env);
    let applied = strata(&endpoint, &["apply", "-f", &first, "--wait"]);
    assert_eq!(applied.code, 0, "{}", applied.err);
    let body = support::get(&endpoint, "sealed");
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
    let sim = stack.cluster_simulator();
    let in_cluster = format!(
        "{} {}",
        sim.object("strata-sealed", "v1", "secrets", "sealed", "database")
            .expect("the database Secret"),
        sim.object("strata-sealed", "v1", "secrets", "sealed", "api-env")
            .expect("the api service's Secret")
    );
    assert!(in_cluster.contains(&base64(&password)), "{in_cluster}");
    assert!(in_cluster.contains(&base64(&service_value)), "{in_cluster}");

    let synced = strata(&endpoint, &["sync", "sealed"]);
    assert_eq!(synced.code, 0, "{}", synced.err);
    env.spec.app.services[1].replicas = 3;
    let changed = write(&files, "sealed-2.json", &env);
    let applied = strata(&endpoint, &["apply", "-f", &changed, "--wait"]);
    assert_eq!(applied.code, 0, "{}", applied.err);
    let deleted = strata(&endpoint, &["delete", "sealed", "--wait"]);
    assert_eq!(deleted.code, 0, "{}", deleted.err);
    assert_eq!(settled(&endpoint, "sealed")["status"]["state"], "Deleted");

    let needles = vec![
        ("the database password".to_owned(), password.clone()),
        (
            "the database password (base64)".to_owned(),
            base64(&password),
        ),
        ("the service secret".to_owned(), service_value.clone()),
        (
            "the service secret (base64)".to_owned(),
            base64(&service_value),
        ),
    ];
    let mut found = Vec::new();

    // Every item of the state table.
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let mut items = 0;
    let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(stack.table_name("StateTable").unwrap())
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            items += 1;
            found.extend(hits("a table item", &format!("{item:?}"), &needles));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }

    // Every event of every execution of both state machines (inputs, outputs, causes).
    let sfn = aws_sdk_sfn::Client::new(&config);
    let (mut executions, mut history_events) = (0, 0);
    for machine in ["EnvironmentUpStateMachine", "EnvironmentDownStateMachine"] {
        let listed = sfn
            .list_executions()
            .state_machine_arn(stack.state_machine_arn(machine).unwrap())
            .send()
            .await
            .unwrap();
        for execution in listed.executions() {
            executions += 1;
            let history = sfn
                .get_execution_history()
                .execution_arn(execution.execution_arn())
                .max_results(1000)
                .send()
                .await
                .unwrap();
            for event in history.events() {
                history_events += 1;
                found.extend(hits(
                    "an execution's history",
                    &format!("{event:?}"),
                    &needles,
                ));
            }
        }
    }

    // Every line the functions logged (cargo-lambda runs them all).
    let log = std::fs::read_to_string(stack.logs().join("cargo-lambda.log")).unwrap();
    let lines = log.lines().count();
    found.extend(hits("the functions' log", &log, &needles));

    // Every event on the bus.
    let mut bus_events = 0;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if received.messages().is_empty() {
            break;
        }
        for message in received.messages() {
            bus_events += 1;
            found.extend(hits(
                "a bus event",
                message.body().unwrap_or_default(),
                &needles,
            ));
        }
    }

    println!(
        "searched {items} table items, {history_events} history events of {executions} executions, \
         {lines} log lines, {bus_events} bus events for {} secret forms: {} hits",
        needles.len(),
        found.len()
    );
    assert!(
        executions >= 3 && history_events > 100,
        "the histories were read"
    );
    assert!(
        lines > 100 && bus_events >= 4 && items > 10,
        "everything was searched"
    );
    assert!(found.is_empty(), "{found:?}");
}
