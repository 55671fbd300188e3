//! The scale benchmark of a scheduled sync against DynamoDB on the local stack (moto): N
//! environments due at once, synced by one run, then due again and synced by two
//! overlapping runs. Prints environments/s, AWS calls and DynamoDB reads and writes per
//! environment, and the peak memory of the process while it syncs. Every environment is
//! Ready and serving the newest tags, so the image and drift checks run and find nothing.
//!
//! `cargo bench -p strata-sync --bench scale -- --environments 10000` (CI runs it with 300).
//! `--read-recently` seeds every environment as read from its live resources just before
//! the runs, so both runs measure what an unchanged environment costs between readings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures_util::{StreamExt, stream};
use strata_control::MemoryFlows;
use strata_core::Component;
use strata_core::status::{ComponentPhase, ComponentStatus, EnvironmentState, EnvironmentStatus};
use strata_localstack::{LocalStack, Options};
use strata_notify::MemoryNotifier;
use strata_registry::MemoryTags;
use strata_store::{DynamoStore, SyncRecord, ensure_scheduled, prelude::*};
use strata_sync::{MemoryInventory, MemoryObserver, RunReport, Syncer};

type TestSyncer =
    Syncer<DynamoStore, MemoryFlows, MemoryNotifier, MemoryTags, MemoryObserver, MemoryInventory>;

const T0: u64 = 1_800_000_000;
const EVERY: u64 = 900;
/// What examples/staging.yaml's services serve, and the only tags their repositories hold.
const SERVING: [(&str, &str); 2] = [("ui", "1.4.0"), ("api", "2.3.0")];
/// The AWS calls of one inventory of the example: GetResources (one page), DescribeCluster,
/// DescribeNodegroup, ListResourceRecordSets, DescribeRepositories, DescribeAddresses.
const INVENTORY_CALLS: u64 = 6;

/// Counts the DynamoDB operations sent (each attempt), by name.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<BTreeMap<String, u64>>>);

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or("unknown")
            .to_owned();
        *self
            .0
            .lock()
            .expect("not poisoned")
            .entry(operation)
            .or_default() += 1;
        Ok(())
    }
}

impl Calls {
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }
}

/// The peak resident memory since the last reset, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    strata_localstack::bench::peak_rss_kib(std::path::Path::new("/proc/self")).unwrap_or(0)
}

/// Starts the peak memory over from the current use (Linux: clear_refs 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn environments_arg() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--environments")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--environments takes a number"))
        .unwrap_or(10_000)
}

#[tokio::main]
async fn main() {
    let count = environments_arg();
    let read_recently = std::env::args().any(|a| a == "--read-recently");
    let stack = LocalStack::start(Options {
        lambdas: false,
        ..Options::default()
    })
    .await
    .expect("the local stack starts");
    let calls = Calls::default();
    let config = stack.sdk_config();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let store = DynamoStore::new(client, stack.table_name("StateTable").unwrap());

    let template = strata_testkit::staging();
    let seeding = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let store = &store;
            let mut env = template.clone();
            env.metadata.name = format!("env-{i:05}");
            async move {
                store.put_spec(&env, None, T0).await.unwrap();
                if read_recently {
                    let record = SyncRecord {
                        observed_at: Some(T0),
                        ..SyncRecord::new(T0, T0 + EVERY)
                    };
                    store.put_sync(env.name(), &record, None).await.unwrap();
                } else {
                    ensure_scheduled(store, env.name(), T0, EVERY)
                        .await
                        .unwrap();
                }
                // Ready and serving the newest tags: the image and drift checks run, and
                // find nothing (an unchanged environment).
                let ready = EnvironmentStatus::new(EnvironmentState::Ready, "up done", T0);
                store.put_status(env.name(), &ready, None).await.unwrap();
                let mut app = ComponentStatus::new(ComponentPhase::Ready, 1, 0);
                for (service, version) in SERVING {
                    app.outputs
                        .insert(format!("service.{service}.version"), version.to_owned());
                }
                store
                    .put_component(env.name(), Component::App, &app, None)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    println!(
        "seeded {count} environments in {:.1}s",
        seeding.elapsed().as_secs_f64()
    );
    calls.take();

    let tags = MemoryTags::default();
    for service in &template.spec.app.services {
        let serving = SERVING.iter().find(|(s, _)| *s == service.name).unwrap().1;
        tags.set(&service.image, &[serving]);
    }
    let syncer = Syncer::new(
        store,
        MemoryFlows::default(),
        MemoryNotifier::default(),
        tags,
        MemoryObserver::default(),
        MemoryInventory::default(),
    );
    // Besides DynamoDB: one Lambda Invoke per component observed, one registry listing per
    // repository per run, and per inventory taken `INVENTORY_CALLS`.
    let other_calls = |syncer: &TestSyncer| {
        let listings: u64 = template
            .spec
            .app
            .services
            .iter()
            .map(|s| u64::from(syncer.registries().listings(&s.image)))
            .sum();
        (
            syncer.observer().calls(),
            listings,
            syncer.inventory().takings(),
        )
    };

    // 1. One scheduled run over every environment, all due and unchanged.
    let now = T0 + EVERY;
    reset_peak_rss();
    let started = Instant::now();
    let single = syncer
        .run(now, "run-1", Duration::from_secs(3600))
        .await
        .unwrap();
    let single_secs = started.elapsed().as_secs_f64();
    let single_peak = peak_rss_kib();
    let single_calls = calls.take();
    let single_other = other_calls(&syncer);
    assert_eq!(single.synced, count, "{single:?}");
    assert_eq!(single.failed, Vec::<String>::new());

    // 2. Two runs of the schedule overlap (the second starts while the first is busy); each
    // environment must be synced by exactly one of them.
    let now = now + EVERY;
    reset_peak_rss();
    let started = Instant::now();
    let (a, b) = tokio::join!(syncer.run(now, "run-a", Duration::from_secs(3600)), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        syncer.run(now, "run-b", Duration::from_secs(3600)).await
    });
    let overlap_secs = started.elapsed().as_secs_f64();
    let overlap_peak = peak_rss_kib();
    let (a, b): (RunReport, RunReport) = (a.unwrap(), b.unwrap());
    let overlap_calls = calls.take();
    let overlap_other = {
        let (invokes, listings, takings) = other_calls(&syncer);
        (
            invokes - single_other.0,
            listings - single_other.1,
            takings - single_other.2,
        )
    };
    let left_due = syncer.store().due(now, 10, None).await.unwrap().items.len();

    let per_env = |n: u64| n as f64 / count as f64;
    let figures = |label: &str,
                   secs: f64,
                   calls: &BTreeMap<String, u64>,
                   (invokes, listings, takings): (u64, u64, u64),
                   peak_kib: u64| {
        let sum = |ops: &[&str]| -> u64 { ops.iter().filter_map(|op| calls.get(*op)).sum() };
        let reads = sum(&["GetItem", "Query", "BatchGetItem"]);
        let writes = sum(&[
            "PutItem",
            "DeleteItem",
            "UpdateItem",
            "BatchWriteItem",
            "TransactWriteItems",
        ]);
        let dynamodb: u64 = calls.values().sum();
        println!("{label}");
        println!("  DynamoDB calls by operation: {calls:?}");
        println!("  wall time:                   {secs:.1}s");
        println!(
            "  environments/s:              {:.0}",
            count as f64 / secs.max(1e-9)
        );
        let inventory = takings * INVENTORY_CALLS;
        println!(
            "  AWS calls per env:           {:.2} (DynamoDB {:.2}, Lambda Invoke {:.2}, inventory {:.2}, registry {:.4})",
            per_env(dynamodb + invokes + inventory + listings),
            per_env(dynamodb),
            per_env(invokes),
            per_env(inventory),
            per_env(listings)
        );
        println!("  DynamoDB reads per env:      {:.2}", per_env(reads));
        println!("  DynamoDB writes per env:     {:.2}", per_env(writes));
        println!("  registry listings (run):     {listings}");
        println!("  peak memory (VmHWM):         {} MiB", peak_kib / 1024);
        serde_json::json!({
            "seconds": secs,
            "environmentsPerSecond": count as f64 / secs.max(1e-9),
            "awsCallsPerEnvironment": per_env(dynamodb + invokes + inventory + listings),
            "dynamodbReadsPerEnvironment": per_env(reads),
            "dynamodbWritesPerEnvironment": per_env(writes),
            "peakRssMiB": peak_kib as f64 / 1024.0,
        })
    };
    println!("environments:                  {count} (Ready, serving the newest tags, in sync)");
    println!(
        "(Lambda Invoke: one observe per component; inventory: {INVENTORY_CALLS} calls per taking; both in memory here, counted)"
    );
    let single = figures(
        if read_recently {
            "one run, every environment due and unchanged (live resources read within the hour: not read again):"
        } else {
            "one run, every environment due and unchanged (live resources never read: read now):"
        },
        single_secs,
        &single_calls,
        single_other,
        single_peak,
    );
    let overlap = figures(
        "two overlapping runs within the hour (no live reading; the loser of an environment spends a read and a write on it):",
        overlap_secs,
        &overlap_calls,
        overlap_other,
        overlap_peak,
    );
    println!("  run a: {a:?}");
    println!("  run b: {b:?}");
    println!("  synced (a + b):              {}", a.synced + b.synced);
    println!("  left due:                    {left_due}");

    // The figures mean nothing if the runs skipped or repeated an environment.
    assert_eq!(a.synced + b.synced, count, "each environment synced once");
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
    assert_eq!(left_due, 0, "an environment was skipped");

    let report = serde_json::json!({
        "environments": count,
        "readRecently": read_recently,
        "oneRun": single,
        "overlappingRuns": overlap,
    });
    strata_localstack::bench::write_report("sync", &report);
}
