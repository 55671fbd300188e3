//! The `strata` binary run as a user runs it: against an API endpoint, or against a local
//! stack's context. Cargo names the binary only to the CLI package's own tests, where they
//! are compiled (`env!("CARGO_BIN_EXE_strata")`), so a test hands it over once:
//!
//! ```text
//! const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));
//! let applied = STRATA.run(&endpoint, &["apply", "-f", &spec, "--wait"]);
//! ```

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_core::Environment;

/// What a run of `strata` answered.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// The `strata` binary at a path.
#[derive(Debug, Clone, Copy)]
pub struct Strata {
    binary: &'static str,
}

impl Strata {
    pub const fn new(binary: &'static str) -> Self {
        Self { binary }
    }

    /// `strata ARGS` with the local stack's dummy credentials and no endpoint, stack or
    /// profile of its own.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.binary);
        command
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("STRATA_ENDPOINT")
            .env_remove("STRATA_STACK");
        command
    }

    /// `strata ARGS` against `endpoint`, as [`command`](Self::command) sets it up; its
    /// output is printed for the README and for whoever reads a failure.
    pub fn run(&self, endpoint: &str, args: &[&str]) -> Ran {
        let ran = ran(self.command(args).env("STRATA_ENDPOINT", endpoint));
        println!("$ strata {}\n{}{}", args.join(" "), ran.out, ran.err);
        ran
    }

    /// `strata get NAME -o json`'s body.
    pub fn get(&self, endpoint: &str, name: &str) -> Value {
        let got = self.run(endpoint, &["get", name, "-o", "json"]);
        serde_json::from_str(&got.out).unwrap_or_default()
    }

    /// Polls until no operation runs on `name`; its body then.
    pub fn settled(&self, endpoint: &str, name: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let body = self.get(endpoint, name);
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

    /// `strata` for the local stack whose context is `state` (`strata local start` writes
    /// it, `--local` reads it), with no other endpoint or profile in reach.
    pub fn local_command(&self, state: &Path) -> Command {
        let mut command = Command::new(self.binary);
        command
            .env("STRATA_LOCAL_STATE", state)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("STRATA_ENDPOINT")
            .env_remove("STRATA_STACK");
        command
    }
}

/// How long one run of `strata` may take: `--wait` on a whole `up` under a loaded machine
/// takes minutes; past this the run is stuck, and the test says so with what it printed.
const RUN_WITHIN: Duration = Duration::from_secs(420);

/// Runs `command` to its end: its exit code and output. A run that does not end within
/// [`RUN_WITHIN`] is killed, and the test fails with what it printed until then.
pub fn ran(command: &mut Command) -> Ran {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + RUN_WITHIN;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let Some(status) = status else {
        panic!(
            "{command:?} did not end within {} s\nstdout:\n{out}\nstderr:\n{err}",
            RUN_WITHIN.as_secs()
        );
    };
    Ran {
        code: status.code().unwrap_or(-1),
        out,
        err,
    }
}

/// `env` written as JSON into `dir` (a `TempDir`, say) as `file`; its path, for `-f`.
pub fn write(dir: impl AsRef<Path>, file: &str, env: &Environment) -> String {
    let path = dir.as_ref().join(file);
    std::fs::write(&path, serde_json::to_string_pretty(&env.to_json()).unwrap()).unwrap();
    path.display().to_string()
}
