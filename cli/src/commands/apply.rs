//! `strata apply` and `strata plan`: one spec (or a directory of them) sent to the API.

use std::path::Path;
use std::time::Duration;

use hyper::Method;
use strata_api_types::PlanView;

use super::follow::watch;
use super::report;
use super::spec::{SpecFile, load, spec_paths};
use super::started::{Started, started};
use crate::client::{ApiClient, ClientError};
use crate::{exit, show};

fn allow_query(allow: &[String]) -> String {
    if allow.is_empty() {
        String::new()
    } else {
        format!("?allowRecreate={}", allow.join(","))
    }
}

/// PUTs one spec; prints what the API did.
pub async fn put_spec(
    client: &ApiClient,
    spec: &SpecFile,
    allow: &[String],
) -> Result<Started, ClientError> {
    let name = spec.environment.name();
    let answer = client
        .send(
            Method::PUT,
            &format!("/environments/{name}{}", allow_query(allow)),
            Some((spec.content_type(), spec.text.clone().into_bytes())),
        )
        .await?;
    started(name, &answer, "applying")
}

pub async fn apply(
    client: &ApiClient,
    path: &Path,
    allow: &[String],
    wait: Option<Duration>,
) -> u8 {
    let paths = match spec_paths(path) {
        Ok(paths) => paths,
        Err(code) => return code,
    };
    // Every spec is checked before any is sent: one bad file sends nothing.
    let mut specs = Vec::new();
    for path in &paths {
        match load(path) {
            Ok(spec) => specs.push(spec),
            Err(code) => return code,
        }
    }
    let mut code = exit::OK;
    let mut running = Vec::new();
    for spec in &specs {
        match put_spec(client, spec, allow).await {
            Ok(started) => running.push(started),
            Err(e) => code = code.max(report(&e)),
        }
    }
    if let Some(timeout) = wait {
        for started in running.into_iter().filter(|s| s.execution.is_some()) {
            let ended = watch(client, &started.name, started.execution, timeout).await;
            code = code.max(ended);
        }
    }
    code
}

pub async fn plan(client: &ApiClient, path: &Path, allow: &[String]) -> u8 {
    let spec = match load(path) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    let name = spec.environment.name();
    match client
        .send(
            Method::POST,
            &format!("/environments/{name}/plan{}", allow_query(allow)),
            Some((spec.content_type(), spec.text.into_bytes())),
        )
        .await
    {
        Ok(answer) => match answer.parse::<PlanView>() {
            Ok(planned) => {
                show::plan(&planned);
                exit::OK
            }
            Err(e) => report(&e),
        },
        Err(e) => report(&e),
    }
}
