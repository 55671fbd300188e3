//! The API's read latency against its floor, same run: `GET /environments/{name}` through the
//! api function (cargo-lambda's function URL on the local stack, as the CLI reaches it)
//! against a raw DynamoDB GetItem of the environment's spec item (through the same router
//! to moto), and a request the function answers without reading the store (what the
//! invocation itself costs). Prints p50 and p99 of each and the ratio of the first two.
//! Then counts the DynamoDB calls the api function makes for one `apply` before it answers
//! 202 — of a changed spec on a Ready environment and of a new environment — as the local
//! stack's router sees them (by the calling binary and the IAM action). Writes it all as
//! JSON to `<target>/bench/api.json`.
//!
//! `cargo bench -p strata-e2e --bench api` (the Lambda binaries built first, as
//! `scripts/bench` does; `-- --requests N`, 200 by default).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use strata_core::{EnvironmentState, EnvironmentStatus};
use strata_store::prelude::*;

use strata_testkit::local_stack;

/// The p50 and p99 of some timings.
fn percentiles(mut timings: Vec<Duration>) -> (Duration, Duration) {
    timings.sort();
    let at = |q: usize| timings[(timings.len() * q / 100).min(timings.len() - 1)];
    (at(50), at(99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let requests: usize = args
        .iter()
        .position(|a| a == "--requests")
        .and_then(|i| args.get(i + 1))
        .map_or(200, |n| n.parse().expect("--requests N"));

    let started = local_stack::start().await;
    let name = "bench";
    let env = strata_testkit::example_as(name);
    started
        .store
        .put_spec(&env, None, strata_testkit::now())
        .await
        .unwrap();
    let status = EnvironmentStatus::new(EnvironmentState::Ready, "up done", strata_testkit::now());
    started.store.put_status(name, &status, None).await.unwrap();

    let url: hyper::Uri = format!(
        "{}/environments/{name}",
        started.stack.function_url("ApiFunction").unwrap()
    )
    .parse()
    .unwrap();
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let dynamodb = aws_sdk_dynamodb::Client::new(&started.stack.sdk_config());
    let table = started.stack.table_name("StateTable").unwrap().to_owned();

    // A path no route serves: the function answers 404 without reading the store, so this
    // is the floor an invocation sets through cargo-lambda.
    let nowhere: hyper::Uri = format!(
        "{}/nowhere",
        started.stack.function_url("ApiFunction").unwrap()
    )
    .parse()
    .unwrap();
    let fetch = |url: hyper::Uri, found: bool| {
        let http = &http;
        async move {
            let began = Instant::now();
            let response = http.get(url.clone()).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(
                status.is_success(),
                found,
                "GET {url}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            began.elapsed()
        }
    };
    let get = || fetch(url.clone(), true);
    let floor = || fetch(nowhere.clone(), false);
    let get_item = || async {
        let began = Instant::now();
        let item = dynamodb
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("ENV#{name}")))
            .key("sk", AttributeValue::S("SPEC".into()))
            .send()
            .await
            .unwrap();
        assert!(item.item.is_some(), "the spec item");
        began.elapsed()
    };
    // The GET's own read, raw: one consistent Query of the sort keys LOCK to SYNC (the
    // store's `read`), what the function cannot do without.
    let query = || async {
        let began = Instant::now();
        let items = dynamodb
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(format!("ENV#{name}")))
            .expression_attribute_values(":from", AttributeValue::S("LOCK".into()))
            .expression_attribute_values(":to", AttributeValue::S("SYNC".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        assert!(items.count() >= 2, "the spec and status items");
        began.elapsed()
    };
    // Warm every path (the function's first invocation starts its process).
    for _ in 0..10 {
        get().await;
        floor().await;
        get_item().await;
        query().await;
    }
    let (mut api, mut invocation, mut raw, mut queried) = (vec![], vec![], vec![], vec![]);
    // Interleaved, so all meet the same machine.
    for _ in 0..requests {
        api.push(get().await);
        invocation.push(floor().await);
        raw.push(get_item().await);
        queried.push(query().await);
    }
    let (api50, api99) = percentiles(api);
    let (floor50, floor99) = percentiles(invocation);
    let (raw50, raw99) = percentiles(raw);
    let (query50, query99) = percentiles(queried);
    println!("{requests} requests each, interleaved, after 10 to warm up:");
    println!("| | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| GET /environments/{{name}} (api function) | {:.1} ms | {:.1} ms |",
        ms(api50),
        ms(api99)
    );
    println!(
        "| GET of a path no route serves (the invocation alone) | {:.1} ms | {:.1} ms |",
        ms(floor50),
        ms(floor99)
    );
    println!(
        "| DynamoDB GetItem of the spec item | {:.1} ms | {:.1} ms |",
        ms(raw50),
        ms(raw99)
    );
    println!(
        "| DynamoDB Query of the GET's range (LOCK to SYNC) | {:.1} ms | {:.1} ms |",
        ms(query50),
        ms(query99)
    );
    println!(
        "| ratio | {:.2}x | {:.2}x |",
        ms(api50) / ms(raw50),
        ms(api99) / ms(raw99)
    );
    let report = serde_json::json!({
        "requests": requests,
        "apiGetMs": {"p50": ms(api50), "p99": ms(api99)},
        "invocationMs": {"p50": ms(floor50), "p99": ms(floor99)},
        "getItemMs": {"p50": ms(raw50), "p99": ms(raw99)},
        "queryMs": {"p50": ms(query50), "p99": ms(query99)},
        "ratio": {"p50": ms(api50) / ms(raw50), "p99": ms(api99) / ms(raw99)},
    });
    let changed = {
        let mut env = env.clone();
        env.spec.app.services[0].replicas += 1;
        apply_calls(&started, &env).await
    };
    let new = apply_calls(&started, &strata_testkit::example_as("bench-new")).await;
    println!("DynamoDB calls of one apply before its 202 (goal: 4 at most):");
    for (what, calls) in [
        ("a changed spec, Ready", &changed),
        ("a new environment", &new),
    ] {
        println!("- {what}: {} ({})", calls.len(), calls.join(", "));
    }
    let mut report = report;
    report["applyDynamoDbCalls"] = serde_json::json!({
        "changed": changed.len(),
        "new": new.len(),
        "changedCalls": changed,
        "newCalls": new,
    });
    strata_localstack::bench::write_report("api", &report);
}

/// The DynamoDB actions the api function calls, in order, for one `PUT /environments/{name}`
/// of `env` through its function URL, which must answer 202.
async fn apply_calls(
    started: &local_stack::Started,
    env: &strata_core::Environment,
) -> Vec<String> {
    let url: hyper::Uri = format!(
        "{}/environments/{}",
        started.stack.function_url("ApiFunction").unwrap(),
        env.name()
    )
    .parse()
    .unwrap();
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = serde_json::to_vec(&env.to_json()).unwrap();
    let request = hyper::Request::put(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    started.stack.chaos().take_calls();
    let response = http.request(request).await.unwrap();
    let status = response.status();
    let calls = started.stack.chaos().take_calls();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        status,
        hyper::StatusCode::ACCEPTED,
        "PUT {}: {}",
        env.name(),
        String::from_utf8_lossy(&text)
    );
    calls
        .into_iter()
        .filter(|c| c.caller == "api" && c.action.starts_with("dynamodb:"))
        .map(|c| c.action.trim_start_matches("dynamodb:").to_owned())
        .collect()
}
