//! Cold start of each function against two baselines built with the same profile, same run:
//! `hello`, the smallest `lambda_runtime` function, and `hello_sdk`, which also loads the
//! SDK's config and makes a DynamoDB client as every Strata function does (the floor of a
//! function that talks to AWS), and `hello_kube`, which also links a kube client (the floor
//! of the app and config functions; all three in `tests/baselines`). Each binary is spawned against a stub
//! Runtime API with its template environment; its init is the time from the spawn to its
//! first `GET /2018-06-01/runtime/invocation/next`, and its RSS (VmHWM) is read then.
//! Prints median and p90 of each and the ratios to both baselines' medians, and writes them
//! as JSON to `<target>/bench/init.json`.
//!
//! `cargo bench -p strata-e2e --bench init -- --dir <target>/release [--spawns 20]`, after
//! the release builds of the functions and of `strata-baselines` (as `scripts/bench` does).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_localstack::template::Template;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The stub Runtime API: tells when a process first asks for an invocation, and holds the
/// request open (the process is killed before any answer).
async fn serve(listener: TcpListener, asked: mpsc::UnboundedSender<Instant>) {
    let mut held: Vec<TcpStream> = Vec::new();
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let at = Instant::now();
        if String::from_utf8_lossy(&head).contains("/runtime/invocation/next") {
            let _ = asked.send(at);
            held.push(stream);
            held.retain(|s| s.peer_addr().is_ok());
        } else {
            let _ = stream
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    }
}

struct Measured {
    name: String,
    inits: Vec<Duration>,
    peak_kib: u64,
}

impl Measured {
    fn at(&self, q: usize) -> Duration {
        let mut sorted = self.inits.clone();
        sorted.sort();
        sorted[(sorted.len() * q / 100).min(sorted.len() - 1)]
    }
}

async fn measure(
    name: &str,
    binary: &Path,
    environment: &[(String, String)],
    runtime: &str,
    asked: &mut mpsc::UnboundedReceiver<Instant>,
    spawns: usize,
) -> Measured {
    let mut inits = Vec::new();
    let mut peak_kib = 0;
    for _ in 0..spawns {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(environment.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", runtime)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let at = match tokio::time::timeout(Duration::from_secs(10), asked.recv()).await {
            Ok(Some(at)) => at,
            _ => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "{name} never asked for an invocation: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        inits.push(at.duration_since(spawned));
        peak_kib = peak_kib.max(
            strata_localstack::bench::peak_rss_kib(&PathBuf::from(format!("/proc/{}", child.id())))
                .unwrap_or(0),
        );
        let _ = child.kill();
        let _ = child.wait();
    }
    Measured {
        name: name.to_owned(),
        inits,
        peak_kib,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let dir = PathBuf::from(arg("--dir").expect("--dir <directory of the release binaries>"));
    let spawns: usize = arg("--spawns").map_or(20, |n| n.parse().expect("--spawns N"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let template = Template::load(
        &root.join("infra/template.yaml"),
        "us-east-1",
        "strata-bench",
    )
    .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime = listener.local_addr().unwrap().to_string();
    let (tx, mut asked) = mpsc::unbounded_channel();
    tokio::spawn(serve(listener, tx));

    let mut rows = vec![];
    for baseline in ["hello", "hello_sdk", "hello_kube"] {
        let environment = [("TABLE_NAME".to_owned(), "hello".to_owned())];
        let binary = dir.join(baseline);
        rows.push(
            measure(
                baseline,
                &binary,
                &environment,
                &runtime,
                &mut asked,
                spawns,
            )
            .await,
        );
    }
    for function in &template.functions {
        let environment: Vec<(String, String)> = function
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        rows.push(
            measure(
                &function.binary,
                &dir.join(&function.binary),
                &environment,
                &runtime,
                &mut asked,
                spawns,
            )
            .await,
        );
    }

    let (hello, sdk) = (ms(rows[0].at(50)), ms(rows[1].at(50)));
    println!("init: spawn to the first invocation request, {spawns} spawns each, release profile");
    println!("| binary | init p50 | init p90 | p50 / hello | p50 / hello_sdk | RSS at init |");
    println!("|---|---|---|---|---|---|");
    let mut report = serde_json::Map::new();
    for row in &rows {
        let (p50, p90) = (ms(row.at(50)), ms(row.at(90)));
        println!(
            "| {} | {p50:.2} ms | {p90:.2} ms | {:.2}x | {:.2}x | {:.1} MiB |",
            row.name,
            p50 / hello,
            p50 / sdk,
            row.peak_kib as f64 / 1024.0
        );
        report.insert(
            row.name.clone(),
            serde_json::json!({
                "initMsP50": p50, "initMsP90": p90, "ratioToHello": p50 / hello,
                "ratioToHelloSdk": p50 / sdk, "rssAtInitMiB": row.peak_kib as f64 / 1024.0,
            }),
        );
    }
    strata_localstack::bench::write_report("init", &serde_json::Value::Object(report));
}
