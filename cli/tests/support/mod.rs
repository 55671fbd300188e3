//! What the CLI's end-to-end tests share: running `strata` against the local stack's API
//! function, and the example spec under another name.

#![allow(dead_code)] // each test binary uses its own part

use std::process::Command;

pub struct Ran {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// `strata ARGS` against `endpoint`, with the local stack's dummy credentials; its output
/// is printed for the README and for whoever reads a failure.
pub fn strata(endpoint: &str, args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("STRATA_STACK")
        .env("STRATA_ENDPOINT", endpoint)
        .output()
        .unwrap();
    let ran = Ran {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    println!("$ strata {}\n{}{}", args.join(" "), ran.out, ran.err);
    ran
}

/// The staging example as `name`, with a DNS name of its own.
pub fn example_as(name: &str) -> strata_core::Environment {
    let mut env = strata_testkit::staging();
    env.metadata.name = name.into();
    env.spec.dns.as_mut().unwrap().name = format!("{name}.example.com");
    env
}

/// `env` written as JSON into `dir` as `file`; its path.
pub fn write(dir: &tempfile::TempDir, file: &str, env: &strata_core::Environment) -> String {
    let path = dir.path().join(file);
    std::fs::write(&path, serde_json::to_string_pretty(&env.to_json()).unwrap()).unwrap();
    path.display().to_string()
}

/// `strata get NAME -o json`'s body.
pub fn get(endpoint: &str, name: &str) -> serde_json::Value {
    let got = strata(endpoint, &["get", name, "-o", "json"]);
    serde_json::from_str(&got.out).unwrap_or_default()
}

/// Polls until no operation runs on `name`; its body then.
pub fn settled(endpoint: &str, name: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let body = get(endpoint, name);
        let state = body["status"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if body["runningExecution"].is_null()
            && !matches!(state.as_str(), "Progressing" | "Deleting" | "")
        {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never settled: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// A local stack standing in for `env`'s prerequisites, with the API function's endpoint
/// and an SDK config for the environment's region.
pub struct Local {
    pub stack: strata_localstack::LocalStack,
    pub files: tempfile::TempDir,
    pub endpoint: String,
    pub regional: aws_config::SdkConfig,
}

pub async fn local(env: &strata_core::Environment) -> Local {
    let stack = strata_localstack::LocalStack::start(strata_localstack::Options::default())
        .await
        .unwrap();
    stack.stand_in_for(env).await.unwrap();
    let endpoint = stack.function_url("ApiFunction").unwrap();
    let regional = stack
        .sdk_config()
        .to_builder()
        .region(aws_config::Region::new(env.spec.region.clone()))
        .build();
    Local {
        stack,
        files: tempfile::tempdir().unwrap(),
        endpoint,
        regional,
    }
}

/// S3 as the local stack serves it (path-style).
pub fn s3(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// `strata` for the local stack whose context is `state` (`strata local start` writes it,
/// `--local` reads it), with no other endpoint or profile in reach.
pub fn local_command(state: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .env("STRATA_LOCAL_STATE", state)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("STRATA_ENDPOINT")
        .env_remove("STRATA_STACK");
    command
}
