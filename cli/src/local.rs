//! `strata local up`: the main job on the local stack. The spec goes through the API
//! function's URL (cargo-lambda serves it) exactly as it would through API Gateway; the
//! state machine it starts runs in moto with the real Lambda binaries.

use std::path::Path;
use std::time::Duration;

use aws_sdk_sfn::types::HistoryEventType;
use hyper::Method;
use strata_localstack::{LocalStack, Options};

use crate::client::ApiClient;
use crate::commands::{self, Started};
use crate::{exit, show};

/// Long enough for the slowest local `up` many times over; the local stack polls each second.
const TIMEOUT: Duration = Duration::from_secs(1800);

pub async fn up(file: &Path, then_down: bool) -> u8 {
    let spec = match commands::load(file) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    eprintln!("starting the local stack (moto, router, cargo lambda watch)...");
    let stack = match LocalStack::start(Options::default()).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("the local stack did not start: {e}");
            return exit::ERROR;
        }
    };
    eprintln!(
        "local stack at {} (logs: {})",
        stack.endpoint(),
        stack.logs().display()
    );
    match stack.stand_in_for(&spec.environment).await {
        Ok(made) => {
            for what in made {
                eprintln!("stand-in: {what} (on AWS it exists before Strata runs)");
            }
        }
        Err(e) => {
            eprintln!(
                "the local stack could not stand in for the spec's images, secrets or zone: {e}"
            );
            return exit::ERROR;
        }
    }
    let Some(url) = stack.function_url("ApiFunction") else {
        eprintln!("the template has no ApiFunction");
        return exit::ERROR;
    };
    let config = stack.sdk_config();
    let client = match ApiClient::new(Some(url), &config) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ERROR;
        }
    };
    println!("API (the api function's URL): {}", client.endpoint());
    let sfn = aws_sdk_sfn::Client::new(&config);
    let name = spec.environment.name().to_owned();

    println!("\n$ strata apply -f {} --wait", file.display());
    let code = match commands::put_spec(&client, &spec, &[]).await {
        Ok(started) => run(&client, &sfn, &started, "Ready").await,
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    };
    if code != exit::OK || !then_down {
        return code;
    }
    println!("\n$ strata delete {name} --wait");
    match commands::request_delete(&client, &name).await {
        Ok(started) => run(&client, &sfn, &started, "Deleted").await,
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    }
}

/// Follows what was started, prints its figures and the environment, and answers whether it
/// reached `expected`.
async fn run(
    client: &ApiClient,
    sfn: &aws_sdk_sfn::Client,
    started: &Started,
    expected: &str,
) -> u8 {
    let followed = match commands::follow(
        client,
        &started.name,
        started.execution.clone(),
        TIMEOUT,
        Duration::from_millis(500),
    )
    .await
    {
        Ok(followed) => followed,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ERROR;
        }
    };
    if let Some(arn) = &started.execution_arn {
        match figures(sfn, arn).await {
            Ok((states, invocations)) => println!(
                "  {states} states entered, {invocations} Lambda invocations, {:.1} s wall time",
                followed.seconds
            ),
            Err(e) => eprintln!("  (no figures: {e})"),
        }
    }
    println!("\n$ strata get {}", started.name);
    match client
        .send(
            Method::GET,
            &format!("/environments/{}", started.name),
            None,
        )
        .await
    {
        Ok(answer) => show::environment(&answer.body),
        Err(e) => eprintln!("error: {e}"),
    }
    println!("\n$ strata history {}", started.name);
    match client
        .send(
            Method::GET,
            &format!("/environments/{}/history?limit=12", started.name),
            None,
        )
        .await
    {
        Ok(answer) => show::history(&answer.body["items"]),
        Err(e) => eprintln!("error: {e}"),
    }
    match commands::ended_code(&followed) {
        exit::OK if followed.state.as_deref() == Some(expected) => exit::OK,
        exit::OK => exit::FAILED,
        code => code,
    }
}

/// States entered and Lambda invocations of one execution (the README's figures).
async fn figures(sfn: &aws_sdk_sfn::Client, arn: &str) -> Result<(usize, usize), String> {
    let history = sfn
        .get_execution_history()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|e| aws_sdk_sfn::error::DisplayErrorContext(&e).to_string())?;
    let states = history
        .events
        .iter()
        .filter(|e| e.state_entered_event_details().is_some())
        .count();
    let invocations = history
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.r#type,
                HistoryEventType::LambdaFunctionScheduled | HistoryEventType::TaskScheduled
            )
        })
        .count();
    Ok((states, invocations))
}
