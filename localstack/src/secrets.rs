//! The search for secret values everywhere Strata writes on the local stack: every item of
//! every DynamoDB table, every execution history of every state machine (inputs, outputs,
//! causes), every line the functions and moto logged, and every event on Strata's bus
//! (caught from the moment the search is set up). A value is looked for as it is, as JSON
//! and Rust's debug output escape it, and base64-encoded (as a Kubernetes Secret holds it).
//! Test infrastructure, for the end-to-end tests of both the e2e crate and the CLI.

use std::time::Duration;

use crate::LocalStack;

pub struct SecretSearch {
    queue: String,
}

/// An SQS queue named `name`, fed by a rule on the stack's bus matching every Strata event
/// (moto delivers to SQS targets): its URL.
pub async fn bus_queue(stack: &LocalStack, name: &str) -> String {
    let config = stack.sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let events = aws_sdk_eventbridge::Client::new(&config);
    let bus = stack.event_bus_name("EventBus").unwrap();
    events
        .put_rule()
        .name(name)
        .event_bus_name(bus)
        .event_pattern(r#"{"source": ["strata"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(name)
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
    queue
}

/// The events delivered to a [`bus_queue`] so far, oldest first, polling (about 5 s at the
/// most) until `enough` says they will do: delivery to the queue is asynchronous.
pub async fn bus_events(
    stack: &LocalStack,
    queue: &str,
    enough: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk_config());
    let mut events = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for message in out.messages() {
            events.push(serde_json::from_str(message.body().unwrap_or("null")).unwrap());
        }
        if enough(&events) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    events
}

/// A value as a Kubernetes Secret's `data` holds it.
pub fn base64(value: &str) -> String {
    strata_kubernetes::base64(value.as_bytes())
}

/// The forms a value may take where it leaked.
fn forms(value: &str) -> Vec<String> {
    let debug = format!("{value:?}");
    let json = serde_json::to_string(value).expect("a string serialises");
    let mut forms = vec![
        value.to_owned(),
        debug.trim_matches('"').to_owned(),
        json.trim_matches('"').to_owned(),
        base64(value),
    ];
    forms.sort();
    forms.dedup();
    forms
}

impl SecretSearch {
    /// Set up before the operations: a rule sending every Strata event to a queue of its own.
    pub async fn start(stack: &LocalStack) -> Self {
        Self {
            queue: bus_queue(stack, "secret-search").await,
        }
    }

    /// The search after the operations, as a test asserts it: none of `secrets` anywhere,
    /// and `control` (a value Strata writes everywhere, such as an execution's name) found in
    /// every kind of place, so a search that cannot see into one fails. Answers what it read.
    pub async fn assert_clean(
        &self,
        stack: &LocalStack,
        secrets: &[&str],
        control: &str,
    ) -> Searched {
        let mut needles = secrets.to_vec();
        needles.push(control);
        let (hits, searched) = self.hits(stack, &needles).await;
        let marker = format!("secret #{} ", secrets.len());
        let (seen, leaks): (Vec<&String>, Vec<&String>) =
            hits.iter().partition(|h| h.contains(&marker));
        println!("secret search: {searched:?}; {} hits", leaks.len());
        assert!(leaks.is_empty(), "{leaks:#?}");
        for kind in ["table ", "execution ", "log ", "bus event"] {
            assert!(
                seen.iter().any(|h| h.starts_with(kind)),
                "the search cannot see into {kind}: {seen:#?}"
            );
        }
        searched
    }

    /// Where any of `secrets` shows, as `place: which secret (form)`; and how many places
    /// were searched, by kind (so a search that found nothing to search fails the caller's
    /// check, not passes it).
    pub async fn hits(&self, stack: &LocalStack, secrets: &[&str]) -> (Vec<String>, Searched) {
        let mut places: Vec<(String, String)> = Vec::new();
        let mut searched = Searched::default();
        let config = stack.sdk_config();

        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        for table in &stack.template().tables {
            let mut start = None;
            loop {
                let page = dynamodb
                    .scan()
                    .table_name(&table.name)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap();
                for item in page.items() {
                    searched.items += 1;
                    places.push((format!("table {}", table.name), format!("{item:?}")));
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    break;
                }
            }
        }

        let sfn = aws_sdk_sfn::Client::new(&config);
        let machines = sfn.list_state_machines().send().await.unwrap();
        for machine in machines.state_machines() {
            let executions = sfn
                .list_executions()
                .state_machine_arn(machine.state_machine_arn())
                .send()
                .await
                .unwrap();
            for execution in executions.executions() {
                let history = sfn
                    .get_execution_history()
                    .execution_arn(execution.execution_arn())
                    .max_results(1000)
                    .send()
                    .await
                    .unwrap();
                searched.executions += 1;
                places.push((
                    format!("execution {}", execution.name()),
                    history.events().iter().map(event_data).collect(),
                ));
            }
        }

        for entry in std::fs::read_dir(stack.logs()).unwrap() {
            let path = entry.unwrap().path();
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            searched.log_lines += text.lines().count();
            places.push((format!("log {}", path.display()), text));
        }

        let sqs = aws_sdk_sqs::Client::new(&config);
        // Delivery to the queue is asynchronous: drain until it stays empty a while.
        let mut quiet = 0;
        while quiet < 5 {
            let out = sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                quiet += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            quiet = 0;
            for message in out.messages() {
                searched.events += 1;
                places.push(("bus event".into(), message.body().unwrap_or("").to_owned()));
                sqs.delete_message()
                    .queue_url(&self.queue)
                    .receipt_handle(message.receipt_handle().unwrap_or(""))
                    .send()
                    .await
                    .unwrap();
            }
        }

        let mut hits = Vec::new();
        for (i, secret) in secrets.iter().enumerate() {
            for form in forms(secret) {
                for (place, text) in &places {
                    if text.contains(&form) {
                        hits.push(format!("{place}: secret #{i} ({} chars)", form.len()));
                    }
                }
            }
        }
        hits.sort();
        hits.dedup();
        (hits, searched)
    }
}

/// Every input, output, parameter, error and cause a history event carries (the SDK's
/// Debug output redacts them: they are "sensitive").
fn event_data(event: &aws_sdk_sfn::types::HistoryEvent) -> String {
    let texts: [Option<&str>; 16] = [
        event
            .execution_started_event_details()
            .and_then(|d| d.input()),
        event
            .execution_succeeded_event_details()
            .and_then(|d| d.output()),
        event
            .execution_failed_event_details()
            .and_then(|d| d.error()),
        event
            .execution_failed_event_details()
            .and_then(|d| d.cause()),
        event.state_entered_event_details().and_then(|d| d.input()),
        event.state_exited_event_details().and_then(|d| d.output()),
        event.task_scheduled_event_details().map(|d| d.parameters()),
        event
            .task_succeeded_event_details()
            .and_then(|d| d.output()),
        event.task_failed_event_details().and_then(|d| d.error()),
        event.task_failed_event_details().and_then(|d| d.cause()),
        event
            .lambda_function_scheduled_event_details()
            .and_then(|d| d.input()),
        event
            .lambda_function_succeeded_event_details()
            .and_then(|d| d.output()),
        event
            .lambda_function_failed_event_details()
            .and_then(|d| d.error()),
        event
            .lambda_function_failed_event_details()
            .and_then(|d| d.cause()),
        event
            .execution_aborted_event_details()
            .and_then(|d| d.cause()),
        event
            .map_iteration_failed_event_details()
            .and_then(|d| d.name()),
    ];
    texts.into_iter().flatten().collect::<Vec<_>>().join("\n")
}

/// How much a search read.
#[derive(Debug, Default)]
pub struct Searched {
    pub items: usize,
    pub executions: usize,
    pub log_lines: usize,
    pub events: usize,
}
