//! `strata`: validate a spec offline, print the component graph, or run an environment's
//! `up` flow on the local stack and show the result.

use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use strata_core::{Environment, EnvironmentState};
use strata_localstack::{LocalStack, Options};
use strata_store::{DynamoStore, Store};

const USAGE: &str = "usage:
  strata validate -f FILE        check a spec offline; every error with its field path
  strata graph                   print the component graph (Mermaid)
  strata local up -f FILE [--down]
                                 start the local stack, store the spec, run environment-up,
                                 show the environment (with --down: then run
                                 environment-down and show it again), stop the local stack";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["validate", "-f", file] => validate(file),
        ["graph"] => {
            print!("{}", strata_core::graph::mermaid());
            ExitCode::SUCCESS
        }
        ["local", "up", "-f", file] => {
            let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
            runtime.block_on(local_up(file, false))
        }
        ["local", "up", "-f", file, "--down"] | ["local", "up", "--down", "-f", file] => {
            let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
            runtime.block_on(local_up(file, true))
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn load(file: &str) -> Result<Environment, ExitCode> {
    use std::io::Read;
    let limit = strata_core::spec::MAX_DOCUMENT_BYTES;
    let opened = std::fs::File::open(file).map_err(|e| {
        eprintln!("{file}: {e}");
        ExitCode::from(2)
    })?;
    // Read at most one byte past the limit: a huge file is refused without being loaded.
    let mut text = Vec::new();
    opened
        .take(limit as u64 + 1)
        .read_to_end(&mut text)
        .map_err(|e| {
            eprintln!("{file}: {e}");
            ExitCode::from(2)
        })?;
    if text.len() > limit {
        eprintln!("{file}: larger than {limit} bytes; a spec is a few KiB");
        return Err(ExitCode::FAILURE);
    }
    let text = String::from_utf8(text).map_err(|_| {
        eprintln!("{file}: not UTF-8 text");
        ExitCode::FAILURE
    })?;
    Environment::parse(&text).map_err(|e| {
        for error in e.field_errors() {
            eprintln!("{file}: {error}");
        }
        ExitCode::FAILURE
    })
}

fn validate(file: &str) -> ExitCode {
    match load(file) {
        Ok(env) => {
            println!("{file}: environment {} is valid", env.name());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn local_up(file: &str, then_down: bool) -> ExitCode {
    let env = match load(file) {
        Ok(env) => env,
        Err(code) => return code,
    };
    eprintln!("starting the local stack (moto, router, cargo lambda watch)...");
    let stack = match LocalStack::start(Options::default()).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("the local stack did not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "local stack at {} (logs: {})",
        stack.endpoint(),
        stack.logs().display()
    );
    match stack.stand_in_for(&env).await {
        Ok(made) => {
            for what in made {
                eprintln!("stand-in: {what} (on AWS it exists before Strata runs)");
            }
        }
        Err(e) => {
            eprintln!(
                "the local stack could not stand in for the spec's images, secrets or zone: {e}"
            );
            return ExitCode::FAILURE;
        }
    }
    let config = stack.sdk_config();
    let table = stack
        .table_name("StateTable")
        .expect("the template declares StateTable");
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let sfn = aws_sdk_sfn::Client::new(&config);
    let up = match run_up(&stack, &store, &sfn, &env).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    if !then_down {
        return up;
    }
    match run_down(&stack, &store, &sfn, &env).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// How one execution went, with the figures the README quotes.
struct Ran {
    status: ExecutionStatus,
    error: Option<String>,
    cause: Option<String>,
    states_entered: usize,
    lambda_invocations: usize,
    seconds: f64,
}

/// Starts `machine` for the environment with a deterministic name, prints each state as it
/// is entered, and waits for the end.
async fn run_flow(
    stack: &LocalStack,
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    name: &str,
    execution: &str,
) -> Result<Ran, String> {
    let arn = stack
        .state_machine_arn(machine)
        .ok_or_else(|| format!("the template has no {machine}"))?;
    let input = serde_json::json!({"environment": name, "pollSeconds": 1}).to_string();
    let clock = std::time::Instant::now();
    let started = sfn
        .start_execution()
        .state_machine_arn(arn)
        .name(execution)
        .input(input)
        .send()
        .await
        .map_err(|e| aws_sdk_sfn::error::DisplayErrorContext(&e).to_string())?;
    println!("execution {execution} started");
    let mut shown = 0;
    loop {
        let described = sfn
            .describe_execution()
            .execution_arn(&started.execution_arn)
            .send()
            .await
            .map_err(|e| aws_sdk_sfn::error::DisplayErrorContext(&e).to_string())?;
        let history = sfn
            .get_execution_history()
            .execution_arn(&started.execution_arn)
            .send()
            .await
            .map_err(|e| aws_sdk_sfn::error::DisplayErrorContext(&e).to_string())?;
        let entered: Vec<String> = history
            .events
            .iter()
            .filter_map(|e| e.state_entered_event_details())
            .map(|d| d.name.clone())
            .collect();
        for state in &entered[shown.min(entered.len())..] {
            println!("  -> {state}");
        }
        shown = entered.len();
        if described.status != ExecutionStatus::Running {
            let lambda_invocations = history
                .events
                .iter()
                .filter(|e| {
                    matches!(
                        e.r#type,
                        aws_sdk_sfn::types::HistoryEventType::LambdaFunctionScheduled
                            | aws_sdk_sfn::types::HistoryEventType::TaskScheduled
                    )
                })
                .count();
            let ran = Ran {
                status: described.status,
                error: described.error,
                cause: described.cause,
                states_entered: entered.len(),
                lambda_invocations,
                seconds: clock.elapsed().as_secs_f64(),
            };
            println!(
                "execution {execution}: {}{}",
                ran.status.as_str(),
                ran.error
                    .as_ref()
                    .map(|e| format!(" ({e}: {})", ran.cause.clone().unwrap_or_default()))
                    .unwrap_or_default()
            );
            println!(
                "  {} states entered, {} Lambda invocations, {:.1} s wall time",
                ran.states_entered, ran.lambda_invocations, ran.seconds
            );
            return Ok(ran);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs environment-down and shows what is left.
async fn run_down(
    stack: &LocalStack,
    store: &DynamoStore,
    sfn: &aws_sdk_sfn::Client,
    env: &Environment,
) -> Result<ExitCode, String> {
    let name = env.name();
    let generation = store
        .get_spec(name)
        .await
        .map_err(|e| e.to_string())?
        .map_or(0, |s| s.generation);
    println!();
    let ran = run_flow(
        stack,
        sfn,
        "EnvironmentDownStateMachine",
        name,
        &format!("down-{name}-{generation}"),
    )
    .await?;
    let status = show(store, env, generation).await?;
    Ok(
        if ran.status == ExecutionStatus::Succeeded && status == EnvironmentState::Deleted {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        },
    )
}

async fn run_up(
    stack: &LocalStack,
    store: &DynamoStore,
    sfn: &aws_sdk_sfn::Client,
    env: &Environment,
) -> Result<ExitCode, String> {
    let name = env.name();
    let previous = store.get_spec(name).await.map_err(|e| e.to_string())?;
    let stored = store
        .put_spec(env, previous.as_ref(), now())
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "environment {name}: generation {} stored",
        stored.generation
    );
    run_flow(
        stack,
        sfn,
        "EnvironmentUpStateMachine",
        name,
        &format!("up-{name}-{}", stored.generation),
    )
    .await?;
    let state = show(store, env, stored.generation).await?;
    Ok(if state == EnvironmentState::Ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// Prints the environment: state, components with their ids, credentials, history.
async fn show(
    store: &DynamoStore,
    env: &Environment,
    generation: u64,
) -> Result<EnvironmentState, String> {
    let name = env.name();
    let status = store
        .get_status(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no status was recorded")?
        .value;
    println!("\nenvironment  {name}");
    println!("state        {:?}", status.state);
    println!("message      {}", status.message);
    println!(
        "generation   {generation} (observed {})",
        status.observed_generation
    );
    println!(
        "\n{:<10} {:<10} {:<10} resources",
        "component", "phase", "generation"
    );
    for component in strata_core::Component::ALL
        .into_iter()
        .filter(|c| env.includes(*c))
    {
        match status.components.get(&component) {
            Some(c) => println!(
                "{:<10} {:<10} {:<10} {}",
                component.name(),
                format!("{:?}", c.phase),
                c.observed_generation,
                c.resource_ids
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None => println!("{:<10} {:<10} {:<10} -", component.name(), "(none)", "-"),
        }
    }
    for url in &status.ingress_urls {
        println!("ingress      {url}");
    }
    for credential in &status.credentials {
        println!("credential   {} {}", credential.name(), credential.arn());
    }
    println!("\nhistory (newest first)");
    for event in store
        .history(name, 20, None)
        .await
        .map_err(|e| e.to_string())?
        .items
    {
        println!("  {}  {:<17} {}", utc(event.at), event.kind, event.message);
    }
    Ok(status.state)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (civil-from-days, proleptic Gregorian).
fn utc(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_795_320_239), "2026-11-22T04:03:59Z");
    }
}
