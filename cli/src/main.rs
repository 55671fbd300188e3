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
  strata local up -f FILE        start the local stack, store the spec, run environment-up,
                                 show the environment, stop the local stack";

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
            runtime.block_on(local_up(file))
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

async fn local_up(file: &str) -> ExitCode {
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
    let config = stack.sdk_config();
    let table = stack
        .table_name("StateTable")
        .expect("the template declares StateTable");
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let sfn = aws_sdk_sfn::Client::new(&config);
    match run_up(&stack, &store, &sfn, &env).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
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
    let machine = stack
        .state_machine_arn("EnvironmentUpStateMachine")
        .ok_or("the template has no EnvironmentUpStateMachine")?;
    let execution = format!("up-{name}-{}", stored.generation);
    let input = serde_json::json!({"environment": name, "pollSeconds": 1}).to_string();
    let started = sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(&execution)
        .input(input)
        .send()
        .await
        .map_err(|e| aws_sdk_sfn::error::DisplayErrorContext(&e).to_string())?;
    println!(
        "environment {name}: generation {} stored; execution {execution} started",
        stored.generation
    );

    let mut shown = 0;
    let described = loop {
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
            break described;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "execution {execution}: {}{}",
        described.status.as_str(),
        described
            .error
            .map(|e| format!(" ({e}: {})", described.cause.unwrap_or_default()))
            .unwrap_or_default()
    );

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
        "generation   {} (observed {})",
        stored.generation, status.observed_generation
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
    println!("\nhistory (newest first)");
    for event in store
        .history(name, 20, None)
        .await
        .map_err(|e| e.to_string())?
        .items
    {
        println!("  {}  {:<17} {}", utc(event.at), event.kind, event.message);
    }
    Ok(if status.state == EnvironmentState::Ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
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
