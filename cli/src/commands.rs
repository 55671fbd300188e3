//! The commands: each reads its input, calls the API, prints the answer and returns the
//! exit code.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper::Method;
use serde::de::DeserializeOwned;
use strata_contract::{
    Applied, CancelView, EnvironmentList, EnvironmentView, HistoryPage, PlanView, SyncRequested,
    TtlExtended,
};
use strata_core::{Environment, Event, Scope};

use crate::client::{Answer, ApiClient, ClientError};
use crate::{Output, exit, show};

/// A spec read from disk, checked offline before anything is sent.
pub struct SpecFile {
    pub path: PathBuf,
    pub text: String,
    pub environment: Environment,
}

impl SpecFile {
    fn content_type(&self) -> &'static str {
        match self.path.extension().and_then(|e| e.to_str()) {
            Some("json") => "application/json",
            _ => "application/yaml",
        }
    }
}

/// Reads and validates one spec; prints every problem with its field path.
pub fn load(path: &Path) -> Result<SpecFile, u8> {
    let shown = path.display();
    let limit = strata_core::spec::MAX_DOCUMENT_BYTES;
    let opened = std::fs::File::open(path).map_err(|e| {
        eprintln!("{shown}: {e}");
        exit::USAGE
    })?;
    // Read at most one byte past the limit: a huge file is refused without being loaded.
    let mut bytes = Vec::new();
    opened
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            eprintln!("{shown}: {e}");
            exit::USAGE
        })?;
    if bytes.len() > limit {
        eprintln!("{shown}: larger than {limit} bytes; a spec is a few KiB");
        return Err(exit::ERROR);
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        eprintln!("{shown}: not UTF-8 text");
        exit::ERROR
    })?;
    let environment = Environment::parse(&text).map_err(|e| {
        for error in e.field_errors() {
            eprintln!("{shown}: {error}");
        }
        exit::ERROR
    })?;
    Ok(SpecFile {
        path: path.to_owned(),
        text,
        environment,
    })
}

pub fn validate(path: &Path) -> u8 {
    match load(path) {
        Ok(spec) => {
            println!(
                "{}: environment {} is valid",
                path.display(),
                spec.environment.name()
            );
            exit::OK
        }
        Err(code) => code,
    }
}

/// The specs a path names: the file, or every `.yaml`, `.yml` and `.json` in the directory.
fn spec_paths(path: &Path) -> Result<Vec<PathBuf>, u8> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        eprintln!("{}: {e}", path.display());
        exit::USAGE
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        eprintln!("{}: no .yaml, .yml or .json specs in it", path.display());
        return Err(exit::USAGE);
    }
    Ok(paths)
}

fn report(error: &ClientError) -> u8 {
    eprintln!("error: {error}");
    match error {
        ClientError::NoEndpoint | ClientError::BadEndpoint(_) => exit::USAGE,
        _ => exit::ERROR,
    }
}

fn allow_query(allow: &[String]) -> String {
    if allow.is_empty() {
        String::new()
    } else {
        format!("?allowRecreate={}", allow.join(","))
    }
}

/// What `apply` or `delete` started (or found running).
pub struct Started {
    pub name: String,
    pub execution: Option<String>,
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

fn started(name: &str, answer: &Answer, doing: &str) -> Result<Started, ClientError> {
    let execution = match answer.parse::<Applied>()? {
        Applied::Started(accepted) => {
            println!(
                "{name}: {doing} generation {} (execution {}{})",
                accepted.generation,
                accepted.execution,
                if accepted.scope == Some(Scope::Application) {
                    "; application layer only"
                } else {
                    ""
                }
            );
            Some(accepted.execution)
        }
        Applied::Unchanged(unchanged) => {
            println!("{name}: {}", unchanged.message);
            None
        }
    };
    Ok(Started {
        name: name.to_owned(),
        execution,
    })
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

/// How long a single read waits between its attempts.
const ONCE: Duration = Duration::from_secs(1);

pub async fn get(client: &ApiClient, name: Option<&str>, output: Output) -> u8 {
    let shown = match name {
        Some(name) => poll::<EnvironmentView>(client, &format!("/environments/{name}"), ONCE)
            .await
            .map(|view| print(output, &view, show::environment)),
        None => list_all(client)
            .await
            .map(|list| print(output, &list, show::list)),
    };
    match shown {
        Ok(()) => exit::OK,
        Err(e) => report(&e),
    }
}

/// A typed body as the output format asks: the API's own JSON (or YAML), or a table.
fn print<T: serde::Serialize>(output: Output, body: &T, table: fn(&T)) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(body).expect("API bodies serialise")
        ),
        Output::Yaml => print!(
            "{}",
            serde_yaml_ng::to_string(body).expect("API bodies serialise as YAML")
        ),
        Output::Table => table(body),
    }
}

/// Every page of the listing, as one list.
async fn list_all(client: &ApiClient) -> Result<EnvironmentList, ClientError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/environments?limit=100&cursor={c}"),
            None => "/environments?limit=100".to_owned(),
        };
        let page: EnvironmentList = poll(client, &path, ONCE).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(EnvironmentList { items, next: None }),
        }
    }
}

pub async fn request_delete(client: &ApiClient, name: &str) -> Result<Started, ClientError> {
    let answer = client
        .send(Method::DELETE, &format!("/environments/{name}"), None)
        .await?;
    started(name, &answer, "deleting")
}

pub async fn delete(client: &ApiClient, name: &str, wait: Option<Duration>) -> u8 {
    then_watch(client, request_delete(client, name).await, wait).await
}

pub async fn rollback(client: &ApiClient, name: &str, wait: Option<Duration>) -> u8 {
    let answer = client
        .send(
            Method::POST,
            &format!("/environments/{name}/rollback"),
            None,
        )
        .await;
    let started = answer.and_then(|a| started(name, &a, "rolling back"));
    then_watch(client, started, wait).await
}

/// `strata apply --from BASE`: what the preview is to be.
pub struct PreviewArgs {
    pub name: String,
    pub ttl: String,
    /// `PATH=VALUE` overrides.
    pub set: Vec<String>,
    pub share: strata_core::spec::Share,
    pub database: strata_core::spec::PreviewDatabase,
}

/// Makes a preview of `base` and brings it up.
pub async fn preview(
    client: &ApiClient,
    base: &str,
    args: PreviewArgs,
    wait: Option<Duration>,
) -> u8 {
    let mut set = std::collections::BTreeMap::new();
    for pair in &args.set {
        let Some((path, value)) = pair.split_once('=') else {
            eprintln!(
                "--set {pair}: must be PATH=VALUE, such as spec.app.services[api].version=2.4.0"
            );
            return exit::USAGE;
        };
        set.insert(path.to_owned(), value.to_owned());
    }
    let request = strata_contract::PreviewRequest {
        name: args.name.clone(),
        ttl: args.ttl,
        share: args.share,
        database: args.database,
        set,
    };
    let body = serde_json::to_vec(&request).expect("a request always serialises");
    let answer = client
        .send(
            Method::POST,
            &format!("/environments/{base}/previews"),
            Some(("application/json", body)),
        )
        .await;
    let doing = format!("applying (a preview of {base})");
    let started = answer.and_then(|a| started(&args.name, &a, &doing));
    then_watch(client, started, wait).await
}

/// `strata sleep` (`asleep`) or `strata wake`.
pub async fn sleep(client: &ApiClient, name: &str, asleep: bool, wait: Option<Duration>) -> u8 {
    let (word, doing) = if asleep {
        ("sleep", "putting to sleep")
    } else {
        ("wake", "waking")
    };
    let answer = client
        .send(Method::POST, &format!("/environments/{name}/{word}"), None)
        .await;
    let started = answer.and_then(|a| started(name, &a, doing));
    then_watch(client, started, wait).await
}

pub async fn cancel(client: &ApiClient, name: &str) -> u8 {
    match client
        .send(Method::POST, &format!("/environments/{name}/cancel"), None)
        .await
    {
        Ok(answer) => match answer.parse::<CancelView>() {
            Ok(cancelled) => {
                show::cancelled(name, &cancelled);
                exit::OK
            }
            Err(e) => report(&e),
        },
        Err(e) => report(&e),
    }
}

pub async fn extend(client: &ApiClient, name: &str, by: &str) -> u8 {
    let body = serde_json::json!({ "extendBy": by })
        .to_string()
        .into_bytes();
    match client
        .send(
            Method::POST,
            &format!("/environments/{name}/ttl"),
            Some(("application/json", body)),
        )
        .await
    {
        Ok(answer) => match answer.parse::<TtlExtended>() {
            Ok(extended) => {
                println!(
                    "{name}: TTL extended by {by}; it now expires at {} ({})",
                    extended.expires_at,
                    show::utc(extended.expires_at)
                );
                exit::OK
            }
            Err(e) => report(&e),
        },
        Err(e) => report(&e),
    }
}

/// How long `strata sync` waits for the sync function's result.
const SYNC_RESULT_WAIT: Duration = Duration::from_secs(300);

/// POSTs a sync (the API hands it to the sync function), waits for its `Synced` event and
/// prints what it found. Answers the execution it started (a repair or a rollout `up`, or
/// the TTL's `down`).
pub async fn request_sync(client: &ApiClient, name: &str) -> Result<Started, ClientError> {
    let answer = client
        .send(Method::POST, &format!("/environments/{name}/sync"), None)
        .await?;
    let requested: SyncRequested = answer.parse()?;
    let actor = requested.result_actor.as_str();
    let mut execution = None;
    match synced_event(client, name, actor).await? {
        Some(event) if event.kind == "SyncFailed" => {
            return Err(ClientError::SyncFailed(event.message));
        }
        Some(event) => {
            let view: EnvironmentView =
                poll(client, &format!("/environments/{name}"), SECOND).await?;
            show::sync(name, &event, view.status.as_ref());
            execution = event.execution;
        }
        None => println!(
            "{name}: the sync ({actor}) has not reported after {}s; `strata history {name}` will show it",
            SYNC_RESULT_WAIT.as_secs()
        ),
    }
    Ok(Started {
        name: name.to_owned(),
        execution,
    })
}

const SECOND: Duration = Duration::from_secs(1);

/// The history's `Synced` (or `SyncFailed`) event by `actor`, once it is there (`None` after
/// [`SYNC_RESULT_WAIT`]).
async fn synced_event(
    client: &ApiClient,
    name: &str,
    actor: &str,
) -> Result<Option<Event>, ClientError> {
    let clock = Instant::now();
    while clock.elapsed() < SYNC_RESULT_WAIT {
        let page: HistoryPage = poll(
            client,
            &format!("/environments/{name}/history?limit=20"),
            SECOND,
        )
        .await?;
        let found = page
            .items
            .into_iter()
            .find(|e| (e.kind == "Synced" || e.kind == "SyncFailed") && e.actor == actor);
        if found.is_some() {
            return Ok(found);
        }
        tokio::time::sleep(SECOND).await;
    }
    Ok(None)
}

pub async fn sync(client: &ApiClient, name: &str, wait: Option<Duration>) -> u8 {
    then_watch(client, request_sync(client, name).await, wait).await
}

/// What a mutation's command ends with: its error, or (with `--wait`) how the operation
/// it started ended.
async fn then_watch(
    client: &ApiClient,
    started: Result<Started, ClientError>,
    wait: Option<Duration>,
) -> u8 {
    match started {
        Ok(started) => match (wait, started.execution) {
            (Some(timeout), Some(execution)) => {
                watch(client, &started.name, Some(execution), timeout).await
            }
            _ => exit::OK,
        },
        Err(e) => report(&e),
    }
}

pub async fn history(client: &ApiClient, name: &str, limit: u32) -> u8 {
    match client
        .send(
            Method::GET,
            &format!("/environments/{name}/history?limit={}", limit.clamp(1, 100)),
            None,
        )
        .await
    {
        Ok(answer) => match answer.parse::<HistoryPage>() {
            Ok(page) => {
                show::history(&page.items);
                exit::OK
            }
            Err(e) => report(&e),
        },
        Err(e) => report(&e),
    }
}

/// How a followed operation ended.
pub struct Followed {
    pub state: Option<String>,
    pub timed_out: bool,
}

/// An execution not begun after this long was most likely rejected by Begin (a lock taken
/// meanwhile); following it further would wait for nothing.
const NOT_BEGUN: Duration = Duration::from_secs(180);

/// A GET, which is safe to repeat: a failure of the endpoint itself (unreachable, a 5xx, as
/// API Gateway gives when a Lambda is throttled or slow to start) is retried a few times,
/// `every` apart (at least a second), before the command gives up; the API's own refusals
/// are not. A follow uses it for every poll, `get` for its reads.
async fn poll<T: DeserializeOwned>(
    client: &ApiClient,
    path: &str,
    every: Duration,
) -> Result<T, ClientError> {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        let error = match client.send(Method::GET, path, None).await {
            Ok(answer) => return answer.parse(),
            Err(e) => e,
        };
        let transient = match &error {
            ClientError::Unreachable { .. } => true,
            ClientError::Unexpected { status, .. } => *status >= 500,
            ClientError::Api(failure) => failure.status >= 500,
            _ => false,
        };
        if !transient || attempt == ATTEMPTS {
            return Err(error);
        }
        eprintln!(
            "warning: {error}; trying again (attempt {} of {ATTEMPTS})",
            attempt + 1
        );
        attempt += 1;
        tokio::time::sleep(every.max(Duration::from_secs(1))).await;
    }
}

/// Polls the environment and prints each component's phase as it changes, until
/// `execution` (or the operation running now) has ended.
pub async fn follow(
    client: &ApiClient,
    name: &str,
    execution: Option<String>,
    timeout: Duration,
    every: Duration,
) -> Result<Followed, ClientError> {
    let clock = Instant::now();
    let spinner = std::io::stderr().is_terminal();
    let mut target = execution;
    // Phases as first seen: only changes are printed (a delete starts from all Ready).
    let mut phases: Option<std::collections::BTreeMap<String, String>> = None;
    let mut tick = 0usize;
    loop {
        let view: EnvironmentView = poll(client, &format!("/environments/{name}"), every).await?;
        let status = view.status.as_ref();
        let running = view.running_execution.as_deref();
        let recorded = status
            .and_then(|s| s.operation.as_ref())
            .map(|o| o.execution.as_str());
        let state = status.map(|s| show::name(&s.state));
        if target.is_none() {
            match running {
                Some(running) => target = Some(running.to_owned()),
                None => {
                    println!(
                        "{name}: no operation running; {}",
                        state.as_deref().unwrap_or("never run")
                    );
                    return Ok(Followed {
                        state,
                        timed_out: false,
                    });
                }
            }
        }
        let target_name = target.as_deref().unwrap_or_default();
        let elapsed = clock.elapsed();
        let now: std::collections::BTreeMap<String, String> = status
            .into_iter()
            .flat_map(|s| &s.components)
            .map(|(c, v)| (c.name().to_owned(), show::name(&v.phase)))
            .collect();
        let seen = phases.get_or_insert_with(|| now.clone());
        // In the status's order: Strata's own components, then the spec's.
        let order: Vec<String> = status
            .into_iter()
            .flat_map(|s| s.components.keys())
            .map(|c| c.name().to_owned())
            .collect();
        for component in order.iter().map(String::as_str) {
            match now.get(component) {
                Some(phase) if seen.get(component) != Some(phase) => {
                    if spinner {
                        eprint!("\r\x1b[2K");
                    }
                    println!("  {:>6.1}s  {component:<9} {phase}", elapsed.as_secs_f64());
                    seen.insert(component.to_owned(), phase.clone());
                }
                _ => {}
            }
        }
        let ended = running != Some(target_name)
            && recorded == Some(target_name)
            && !matches!(state.as_deref(), Some("Progressing" | "Deleting"));
        if ended {
            if spinner {
                eprint!("\r\x1b[2K");
            }
            println!(
                "{name}: {} after {:.1} s ({})",
                state.as_deref().unwrap_or("?"),
                elapsed.as_secs_f64(),
                status.map_or("", |s| s.message.as_str())
            );
            return Ok(Followed {
                state,
                timed_out: false,
            });
        }
        let not_begun = running.is_none() && recorded != Some(target_name) && elapsed > NOT_BEGUN;
        if elapsed > timeout || not_begun {
            if spinner {
                eprint!("\r\x1b[2K");
            }
            eprintln!(
                "{name}: {target_name} {} after {:.0} s; it goes on without this command",
                if not_begun {
                    "has not begun"
                } else {
                    "still runs"
                },
                elapsed.as_secs_f64()
            );
            return Ok(Followed {
                state,
                timed_out: true,
            });
        }
        if spinner {
            const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
            tick += 1;
            eprint!(
                "\r{} {name} {} {:.0}s",
                FRAMES[tick % FRAMES.len()],
                state.as_deref().unwrap_or("starting"),
                elapsed.as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
        tokio::time::sleep(every).await;
    }
}

/// The exit code for how an operation ended.
pub fn ended_code(followed: &Followed) -> u8 {
    match (followed.timed_out, followed.state.as_deref()) {
        (true, _) => exit::TIMEOUT,
        (false, Some("Ready" | "Deleted")) => exit::OK,
        (false, None) => exit::OK,
        _ => exit::FAILED,
    }
}

pub async fn watch(
    client: &ApiClient,
    name: &str,
    execution: Option<String>,
    timeout: Duration,
) -> u8 {
    match follow(client, name, execution, timeout, Duration::from_secs(2)).await {
        Ok(followed) => ended_code(&followed),
        Err(e) => report(&e),
    }
}

#[cfg(test)]
mod poll_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper_util::rt::TokioIo;

    /// A loopback endpoint answering `failures` times with a bare 500 (as a proxy in front
    /// of the API does), then with an environment.
    async fn flaky(failures: u32) -> (String, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let counted = counted.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_: hyper::Request<Incoming>| {
                        let n = counted.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let (status, body) = if n < failures {
                                (500, "{\"title\":\"Internal Server Error\"}")
                            } else {
                                (
                                    200,
                                    "{\"name\":\"staging\",\"status\":{\"state\":\"Ready\"}}",
                                )
                            };
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (format!("http://{addr}"), calls)
    }

    fn client(endpoint: String) -> crate::client::ApiClient {
        let credentials =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let config = aws_config::SdkConfig::builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        crate::client::ApiClient::new(Some(endpoint), &config).unwrap()
    }

    #[tokio::test]
    async fn a_poll_outlives_a_passing_5xx_but_not_a_lasting_one() {
        let (endpoint, calls) = flaky(2).await;
        let body: serde_json::Value =
            super::poll(&client(endpoint), "/environments/staging", Duration::ZERO)
                .await
                .unwrap();
        assert_eq!(body["status"]["state"], "Ready");
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let (endpoint, calls) = flaky(100).await;
        let err = super::poll::<serde_json::Value>(
            &client(endpoint),
            "/environments/staging",
            Duration::ZERO,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("500"), "{err}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "four attempts, then it gives up"
        );
    }
}
