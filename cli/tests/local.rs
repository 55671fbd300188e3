//! `strata local start --detach`, then the ordinary commands with `--local`, then `strata
//! local stop`: the local stack as a place to live in, driven only through the CLI. The
//! spec applied is the staging example as it is: the local stack's front door stands in
//! for its images, secrets and zone.

use std::path::PathBuf;

use strata_api_types::EnvironmentView;
use strata_core::EnvironmentState;
use strata_testkit::cli::Strata;

const STRATA: Strata = Strata::new(env!("CARGO_BIN_EXE_strata"));

struct Local {
    state: PathBuf,
}

impl Local {
    fn strata(&self, args: &[&str]) -> (i32, String, String) {
        let out = STRATA
            .local_command(&self.state)
            .args(args)
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        let (out, err) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        println!("$ strata {}\n{out}{err}", args.join(" "));
        (code, out, err)
    }
}

impl Drop for Local {
    /// A failed test still stops what it started.
    fn drop(&mut self) {
        if self.state.exists() {
            let _ = self.strata(&["local", "stop"]);
        }
    }
}

#[test]
fn a_detached_local_stack_serves_every_command_until_it_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let local = Local {
        state: dir.path().join("local.json"),
    };
    let (code, out, _) = local.strata(&["local", "start", "--detach"]);
    assert_eq!(code, 0);
    assert!(out.contains("API") && local.state.exists(), "{out}");
    // A second start finds the first.
    let (code, out, _) = local.strata(&["local", "start", "--detach"]);
    assert_eq!(code, 0);
    assert!(out.contains("already runs"), "{out}");

    let spec = strata_testkit::examples::path("staging.yaml")
        .display()
        .to_string();
    let (code, _, err) = local.strata(&["--local", "apply", "-f", &spec, "--wait"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = local.strata(&["--local", "get", "staging", "-o", "json"]);
    assert_eq!(code, 0);
    let view: EnvironmentView = serde_json::from_str(&out).unwrap();
    let status = view.status.unwrap();
    assert_eq!(status.state, EnvironmentState::Ready, "{}", status.message);
    let (_, out, _) = local.strata(&["--local", "get"]);
    assert!(out.lines().any(|l| l.starts_with("staging ")), "{out}");
    let (code, out, _) = local.strata(&["--local", "plan", "-f", &spec]);
    assert_eq!(code, 0);
    assert!(out.contains("no changes"), "{out}");
    // The plan's cost: what runs and what is planned, the same $224.50 a month.
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("total") && l.matches("224.50").count() == 2),
        "{out}"
    );
    let (_, out, _) = local.strata(&["--local", "history", "staging"]);
    assert!(out.contains("Ready"), "{out}");
    let (code, out, _) = local.strata(&["local", "figures", "staging"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("up-staging-1-0 ") && out.contains("Lambda invocations"),
        "{out}"
    );

    // Another process changes the environment behind Strata's back through the holding
    // process; the sync sees exactly that.
    let (code, out, err) = local.strata(&["local", "drift", "staging", "--nodes", "4"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("scaled from 2 to 4 nodes"), "{out}");
    let (code, out, _) = local.strata(&["--local", "sync", "staging", "--wait"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("scalingConfig.desiredSize: expected 2, observed 4")
            && out.contains("spec.replicas: expected 2, observed 5"),
        "{out}"
    );
    let (code, _, err) = local.strata(&["local", "push", "staging", "--service", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no service nope"), "{err}");

    let (code, out, _) = local.strata(&["local", "stop"]);
    assert_eq!(code, 0);
    assert!(out.contains("stopped"), "{out}");
    assert!(!local.state.exists());
    let (code, _, err) = local.strata(&["--local", "get"]);
    assert_eq!(code, 2);
    assert!(err.contains("no local stack runs"), "{err}");
}
