//! `up` and `down` of the staging example with AWS's create durations played by the local
//! stack on a clock scaled by 5 (`strata_localstack::pace`), polling at the deployed
//! interval on the same clock (5 s plays as 1 s), each wait as long as the step answers
//! (`strata_core::waits`, told the clock's scale). Prints, and writes as JSON to
//! `<target>/bench/pace.json`: states entered, state transitions, Lambda invocations, the
//! Step Functions bill at the Standard price, and the makespan against the critical path the
//! component graph gives with the same durations.
//!
//! `cargo bench -p strata-e2e --bench pace` (the Lambda binaries built first, as
//! `scripts/bench` does).

use std::time::Duration;

use aws_sdk_sfn::types::HistoryEventType;
use strata_core::Component;
use strata_localstack::pace::Durations;

use strata_testkit::local_stack;

/// The scale of the clock: AWS's durations and the poll interval are divided by it. The
/// deployed interval is the step answers' unit, so it must play as a whole second.
const FACTOR: u32 = 5;
/// The deployed poll interval (`lifecycle::DEFAULT_POLL_SECONDS`).
const DEPLOYED_POLL_SECONDS: u64 = 5;
/// Step Functions Standard, us-east-1: $0.025 per 1,000 state transitions.
const USD_PER_TRANSITION: f64 = 0.000_025;

/// How long AWS takes for a component's create, with these durations.
fn create_time(component: Component, d: &Durations) -> Duration {
    match component {
        Component::Network => d.nat_gateway,
        // The node group is made once the control plane is active.
        Component::Cluster => d.cluster + d.node_group,
        Component::Database => d.database,
        Component::App => d.load_balancer,
        Component::Dns => d.dns_change,
        // The bench's spec (staging) has no custom components.
        Component::Storage | Component::Config | Component::Custom(_) => Duration::ZERO,
    }
}

/// The longest chain of creates through the component graph.
fn critical_path(d: &Durations) -> Duration {
    let graph = Component::graph();
    let mut finish = std::collections::BTreeMap::new();
    for stage in graph.create_stages() {
        for component in stage {
            let start = graph
                .dependencies(component)
                .map(|c| finish[&c])
                .max()
                .unwrap_or(Duration::ZERO);
            finish.insert(component, start + create_time(component, d));
        }
    }
    finish.into_values().max().unwrap_or_default()
}

struct Figures {
    operation: &'static str,
    states: usize,
    transitions: usize,
    invocations: usize,
    seconds: f64,
    /// Per Task state: first entered and last exited, seconds after the execution began.
    spans: std::collections::BTreeMap<String, (f64, f64)>,
}

impl Figures {
    fn usd(&self) -> f64 {
        self.transitions as f64 * USD_PER_TRANSITION
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "statesEntered": self.states,
            "stateTransitions": self.transitions,
            "lambdaInvocations": self.invocations,
            "stepFunctionsUSD": self.usd(),
            "seconds": self.seconds,
            "awsSeconds": self.seconds * f64::from(FACTOR),
        })
    }
}

/// The figures of one execution, from its history.
async fn figures(sfn: &aws_sdk_sfn::Client, arn: &str, operation: &'static str) -> Figures {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(arn)
            .set_next_token(token)
            .max_results(1000)
            .send()
            .await
            .unwrap();
        events.extend(page.events().iter().cloned());
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    let (states, invocations) = strata_localstack::bench::states_and_invocations(&events);
    let task_states = events
        .iter()
        .filter(|e| e.r#type == HistoryEventType::TaskStateEntered)
        .count();
    // Each loop's span: from the first time its Task is entered to the last time it exits.
    let start = events.first().map_or(0.0, |e| e.timestamp().as_secs_f64());
    let mut spans: std::collections::BTreeMap<String, (f64, f64)> = Default::default();
    for e in &events {
        let at = e.timestamp().as_secs_f64() - start;
        if let Some(name) = e.state_entered_event_details().map(|d| d.name())
            && e.r#type == HistoryEventType::TaskStateEntered
        {
            spans.entry(name.to_owned()).or_insert((at, at));
        }
        if let Some(name) = e.state_exited_event_details().map(|d| d.name())
            && let Some(span) = spans.get_mut(name)
        {
            span.1 = at;
        }
    }
    let described = local_stack::describe(sfn, arn).await;
    let seconds = described.stop_date().map_or(f64::NAN, |s| s.as_secs_f64())
        - described.start_date().as_secs_f64();
    Figures {
        operation,
        states,
        // Each state entered is a transition, and so is each retry of a task.
        transitions: states + invocations.saturating_sub(task_states),
        invocations,
        seconds,
        spans,
    }
}

#[tokio::main]
async fn main() {
    let durations = Durations::aws();
    let scaled = durations.scaled(FACTOR);
    // `--release-functions`: the functions run as deployed, for their memory figures.
    let release = std::env::args().any(|a| a == "--release-functions");
    let started = local_stack::start_with(strata_localstack::Options {
        release,
        ..Default::default()
    })
    .await;
    started.stack.pace(Some(scaled));
    let (operations, sfn) = started.operations();
    let operations = operations
        .with_poll_seconds(Some(DEPLOYED_POLL_SECONDS / u64::from(FACTOR)))
        .with_clock_scale(Some(FACTOR));
    let name = "bench";
    started.store_example(name).await;

    let mut rows = Vec::new();
    for (down, operation) in [(false, "up"), (true, "down")] {
        // A create plays 21 minutes of AWS's time: over four minutes here.
        let execution = started.start(&operations, name, down, "bench").await;
        let arn = started.execution_arn(&execution, down);
        let described = local_stack::ended_within(&sfn, &arn, Duration::from_secs(900)).await;
        assert_eq!(
            described.status,
            aws_sdk_sfn::types::ExecutionStatus::Succeeded,
            "{operation}: {:?}",
            described.error
        );
        rows.push(figures(&sfn, &described.execution_arn, operation).await);
    }

    let path = critical_path(&durations);
    let up = &rows[0];
    println!("up, each step loop on AWS's clock (first entered, last left, seconds):");
    let mut spans: Vec<_> = up.spans.iter().collect();
    spans.sort_by(|a, b| a.1.0.total_cmp(&b.1.0));
    for (state, (from, to)) in spans {
        let aws = |s: f64| s * f64::from(FACTOR);
        println!(
            "  {state:<12} {:>7.0} {:>7.0} {:>7.0}",
            aws(*from),
            aws(*to),
            aws(to - from)
        );
    }
    let makespan = up.seconds * f64::from(FACTOR);
    // Not a speed limit: an `up` faster than the physical floor means the pace was not played.
    assert!(
        makespan >= path.as_secs_f64(),
        "up took {makespan:.0} s on the scaled clock, under the {} s critical path",
        path.as_secs()
    );
    println!(
        "AWS's create durations on a clock scaled by {FACTOR} (EKS {} s, node group {} s, RDS {} s, NAT {} s, load balancer {} s, Route 53 {} s; deletes are not paced), polling every {DEPLOYED_POLL_SECONDS} s:",
        durations.cluster.as_secs(),
        durations.node_group.as_secs(),
        durations.database.as_secs(),
        durations.nat_gateway.as_secs(),
        durations.load_balancer.as_secs(),
        durations.dns_change.as_secs(),
    );
    println!(
        "| operation | states entered | transitions | Lambda invocations | Step Functions $ | wall (scaled) | as on AWS |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {:.5} | {:.1} s | {:.0} s |",
            row.operation,
            row.states,
            row.transitions,
            row.invocations,
            row.usd(),
            row.seconds,
            row.seconds * f64::from(FACTOR)
        );
    }
    println!(
        "makespan of up: {makespan:.0} s against a critical path of {} s: {:.3}x",
        path.as_secs(),
        makespan / path.as_secs_f64()
    );

    // Each function process served every invocation of both runs: its peak is the
    // largest of them.
    let rss = started.stack.function_peak_rss_kib();
    let build = if release { "release" } else { "debug" };
    println!("peak RSS of each function over up and down ({build} build):");
    for (function, kib) in &rss {
        println!("  {function:<10} {:5.1} MiB", *kib as f64 / 1024.0);
    }
    let rss: serde_json::Map<_, _> = rss
        .into_iter()
        .map(|(f, kib)| (f, serde_json::json!(kib as f64 / 1024.0)))
        .collect();
    let report = serde_json::json!({
        "peakRssMiB": rss,
        "build": build,
        "scale": FACTOR,
        "pollSeconds": DEPLOYED_POLL_SECONDS,
        "up": up.json(),
        "down": rows[1].json(),
        "criticalPathSeconds": path.as_secs(),
        "makespanRatio": makespan / path.as_secs_f64(),
    });
    strata_localstack::bench::write_report("pace", &report);
}
