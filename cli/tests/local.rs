//! `strata local start --detach`, then the ordinary commands with `--local`, then `strata
//! local stop`: the local stack as a place to live in, driven only through the CLI (and
//! the real kubectl, through `strata kubeconfig`). The
//! spec applied is the staging example as it is: the local stack's front door stands in
//! for its images, secrets and zone.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The local stack's dummy key, which no kubeconfig may hold.
const LOCAL_KEY: &str = "testing";

/// The principals with an access entry on `cluster`, read from the local stack's EKS.
fn access_entries(state: &Path, region: &str, cluster: &str) -> Vec<String> {
    let context: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(context["aws"].as_str().unwrap())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(LOCAL_KEY, LOCAL_KEY, None, None, "test"),
            ),
        )
        .build();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        aws_sdk_eks::Client::new(&config)
            .list_access_entries()
            .cluster_name(cluster)
            .send()
            .await
            .unwrap()
            .access_entries()
            .to_vec()
    })
}

/// Runs the real `kubectl` with `kubeconfig`, `strata` on its PATH for the exec plugin;
/// its output, after asserting it succeeded.
fn kubectl(kubeconfig: &Path, state: &Path, args: &[&str]) -> String {
    let strata = Path::new(env!("CARGO_BIN_EXE_strata"));
    let path = format!(
        "{}:{}",
        strata.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("PATH", path)
        .env("STRATA_LOCAL_STATE", state)
        .output()
        .expect("kubectl is installed");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    println!("$ kubectl {}\n{stdout}{stderr}", args.join(" "));
    assert!(out.status.success(), "kubectl {args:?}: {stderr}");
    stdout
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

    // The real kubectl through `strata kubeconfig`: the file names the cluster and an exec
    // plugin (`strata --local token`), never a token or a key.
    let kubeconfig = dir.path().join("kubeconfig");
    let written = kubeconfig.display().to_string();
    let (code, _, err) = local.strata(&[
        "--local",
        "kubeconfig",
        "staging",
        "-f",
        &written,
        "--grant",
        "view",
    ]);
    assert_eq!(code, 0, "{err}");
    // --grant: the caller's own principal has an access entry, the view policy on the
    // environment's namespace.
    assert!(
        err.contains("granted arn:aws:iam::123456789012:user/moto")
            && err.contains("AmazonEKSViewPolicy on strata-staging (namespace staging)"),
        "{err}"
    );
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        !text.contains("k8s-aws-v1") && !text.contains(LOCAL_KEY),
        "{text}"
    );
    let entries = access_entries(&local.state, "eu-west-1", "strata-staging");
    assert!(
        entries.contains(&"arn:aws:iam::123456789012:user/moto".to_owned()),
        "{entries:?}"
    );
    let deployments = kubectl(
        &kubeconfig,
        &local.state,
        &["get", "deployments", "-o", "name"],
    );
    let mut names: Vec<&str> = deployments.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["deployment.apps/api", "deployment.apps/ui-blue"],
        "{deployments}"
    );
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
