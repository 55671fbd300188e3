//! `strata kubeconfig` and `strata token`: kubectl's way into an environment's EKS cluster.
//! The kubeconfig holds the cluster's endpoint and CA and an exec plugin (`strata token`,
//! or `aws eks get-token`) that mints a short-lived `k8s-aws-v1.` token from the caller's
//! own AWS credentials each time kubectl needs one: no secret is ever in the file, so it
//! can be shared or committed.

use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_eks::primitives::{DateTime, DateTimeFormat};
use serde_json::json;
use strata_api_types::EnvironmentView;

use super::poll::poll;
use super::report;
use crate::client::ApiClient;
use crate::exit;

/// The exec plugin the kubeconfig runs for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Exec {
    /// `strata token` (this command, on the PATH).
    Strata,
    /// `aws eks get-token` (the AWS CLI).
    Aws,
}

/// The EKS access policy `--grant` associates with the caller: the environment's namespace
/// for all but `cluster-admin`, which is the whole cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Grant {
    View,
    Edit,
    Admin,
    ClusterAdmin,
}

impl Grant {
    fn policy_arn(self) -> &'static str {
        match self {
            Grant::View => "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
            Grant::Edit => "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
            Grant::Admin => "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy",
            Grant::ClusterAdmin => {
                "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
            }
        }
    }
}

/// What the kubeconfig is for.
pub struct Target<'a> {
    pub environment: &'a str,
    /// Write here instead of standard output.
    pub file: Option<&'a Path>,
    pub exec: Exec,
    /// The token command talks to the local stack (`strata --local token`).
    pub local: bool,
    /// First give the caller's own principal this access (an EKS access entry).
    pub grant: Option<Grant>,
}

/// Writes the kubeconfig for `target.environment`: its cluster (a preview that shares its
/// base's cluster gets the base's), with the environment's namespace as the default.
pub async fn kubeconfig(client: &ApiClient, aws: &aws_config::SdkConfig, target: Target<'_>) -> u8 {
    let name = target.environment;
    if target.local && target.exec == Exec::Aws {
        eprintln!(
            "error: --exec aws signs with your AWS credentials, which the local stack's cluster refuses; use --exec strata with --local"
        );
        return exit::USAGE;
    }
    let view: EnvironmentView = match poll(
        client,
        &format!("/environments/{name}"),
        Duration::from_secs(1),
    )
    .await
    {
        Ok(view) => view,
        Err(e) => return report(&e),
    };
    let region = view.spec.spec.region.clone();
    let cluster = view.spec.cluster_name();
    let config = aws
        .clone()
        .into_builder()
        .region(aws_config::Region::new(region.clone()))
        .build();
    let described = match aws_sdk_eks::Client::new(&config)
        .describe_cluster()
        .name(&cluster)
        .send()
        .await
    {
        Ok(described) => described,
        Err(e) => {
            eprintln!(
                "error: DescribeCluster {cluster} ({name}'s cluster, in {region}): {}",
                aws_sdk_eks::error::DisplayErrorContext(&e)
            );
            return exit::ERROR;
        }
    };
    let found = described.cluster();
    let Some(endpoint) = found.and_then(|c| c.endpoint()) else {
        eprintln!("error: cluster {cluster} has no endpoint yet (is {name} Ready?)");
        return exit::ERROR;
    };
    let ca = found
        .and_then(|c| c.certificate_authority())
        .and_then(|c| c.data());
    if let Some(grant) = target.grant {
        match grant_caller(&config, &cluster, name, grant).await {
            Ok(principal) => eprintln!(
                "granted {principal} {} on {cluster} ({})",
                grant.policy_arn().rsplit('/').next().unwrap_or_default(),
                match grant {
                    Grant::ClusterAdmin => "the whole cluster".to_owned(),
                    _ => format!("namespace {name}"),
                }
            ),
            Err(message) => {
                eprintln!("error: {message}");
                return exit::ERROR;
            }
        }
    }
    let text = document(
        name,
        &cluster,
        &region,
        endpoint,
        ca,
        target.exec,
        target.local,
    );
    match target.file {
        None => {
            print!("{text}");
            exit::OK
        }
        Some(path) => match std::fs::write(path, &text) {
            Ok(()) => {
                eprintln!(
                    "wrote {}: context strata-{name}, namespace {name}; try `kubectl --kubeconfig {} get deployments`",
                    path.display(),
                    path.display()
                );
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                exit::USAGE
            }
        },
    }
}

/// Gives the caller's principal (a role for an assumed-role session) an access entry on
/// `cluster` with `grant`'s policy; an entry that exists already is kept. Answers the
/// principal.
async fn grant_caller(
    config: &aws_config::SdkConfig,
    cluster: &str,
    namespace: &str,
    grant: Grant,
) -> Result<String, String> {
    use aws_sdk_eks::types::{AccessScope, AccessScopeType};
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| failed("GetCallerIdentity", &e))?;
    let principal = resolved(config, identity.arn().unwrap_or_default()).await;
    let eks = aws_sdk_eks::Client::new(config);
    match eks
        .create_access_entry()
        .cluster_name(cluster)
        .principal_arn(&principal)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => {
            return Err(failed(
                &format!("CreateAccessEntry {principal} on {cluster}"),
                &e,
            ));
        }
    }
    // Associating a policy again replaces its scope: keep the namespaces it has (a base's,
    // when a preview on its cluster is granted), or leave a cluster-wide one as it is.
    let associated = eks
        .list_associated_access_policies()
        .cluster_name(cluster)
        .principal_arn(&principal)
        .send()
        .await
        .map_err(|e| {
            failed(
                &format!("ListAssociatedAccessPolicies {principal} on {cluster}"),
                &e,
            )
        })?;
    let mut namespaces = vec![namespace.to_owned()];
    for policy in associated.associated_access_policies() {
        let Some(scope) = policy.access_scope() else {
            continue;
        };
        if policy.policy_arn() != Some(grant.policy_arn()) {
            continue;
        }
        if scope.r#type() == Some(&AccessScopeType::Cluster) {
            return Ok(principal);
        }
        for held in scope.namespaces() {
            if !namespaces.contains(held) {
                namespaces.push(held.clone());
            }
        }
    }
    let scope = match grant {
        Grant::ClusterAdmin => AccessScope::builder().r#type(AccessScopeType::Cluster),
        _ => AccessScope::builder()
            .r#type(AccessScopeType::Namespace)
            .set_namespaces(Some(namespaces)),
    };
    eks.associate_access_policy()
        .cluster_name(cluster)
        .principal_arn(&principal)
        .policy_arn(grant.policy_arn())
        .access_scope(scope.build())
        .send()
        .await
        .map_err(|e| {
            failed(
                &format!("AssociateAccessPolicy {principal} on {cluster}"),
                &e,
            )
        })?;
    Ok(principal)
}

/// An SDK call that failed, with the whole chain of why (every SDK's errors show it alike).
fn failed(call: &str, error: &(dyn std::error::Error + 'static)) -> String {
    format!("{call}: {}", aws_sdk_eks::error::DisplayErrorContext(error))
}

/// The principal to grant: an assumed role's role with its path, as `iam:GetRole` reads
/// it (a session's ARN drops the path, and EKS needs the role's full ARN); without that
/// permission, the role's ARN without a path, said so.
async fn resolved(config: &aws_config::SdkConfig, caller: &str) -> String {
    let principal = principal_of(caller);
    let Some((_, role)) = principal.split_once(":role/") else {
        return principal;
    };
    match aws_sdk_iam::Client::new(config)
        .get_role()
        .role_name(role)
        .send()
        .await
    {
        Ok(found) => found
            .role()
            .map(|r| r.arn().to_owned())
            .unwrap_or(principal),
        Err(e) => {
            eprintln!(
                "warning: iam:GetRole {role}: {}; granting {principal} (right unless the role has a path)",
                aws_sdk_iam::error::DisplayErrorContext(&e)
            );
            principal
        }
    }
}

/// The IAM principal behind a caller ARN: an assumed role's session is its role (EKS
/// access entries name roles, not sessions; a role's path is not in the session's ARN),
/// and a user is an `iam` ARN (moto answers users under `sts`).
fn principal_of(caller: &str) -> String {
    match caller.split_once(":assumed-role/") {
        Some((head, rest)) => {
            let role = rest.split('/').next().unwrap_or_default();
            format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1))
        }
        None => caller.replacen(":sts:", ":iam:", 1),
    }
}

/// The kubeconfig itself: one cluster, one user (the exec plugin), one context.
fn document(
    environment: &str,
    cluster: &str,
    region: &str,
    endpoint: &str,
    ca: Option<&str>,
    exec: Exec,
    local: bool,
) -> String {
    let context = format!("strata-{environment}");
    let (command, args) = match exec {
        Exec::Strata => {
            let mut args = Vec::new();
            if local {
                args.push("--local".to_owned());
            }
            args.extend(["token", "--cluster", cluster, "--region", region].map(str::to_owned));
            ("strata", args)
        }
        Exec::Aws => (
            "aws",
            [
                "eks",
                "get-token",
                "--cluster-name",
                cluster,
                "--region",
                region,
                "--output",
                "json",
            ]
            .map(str::to_owned)
            .to_vec(),
        ),
    };
    let mut server = json!({ "server": endpoint });
    if let Some(ca) = ca {
        server["certificate-authority-data"] = ca.into();
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": context, "cluster": server }],
        "users": [{
            "name": context,
            "user": { "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": command,
                "args": args,
                "interactiveMode": "Never",
            }},
        }],
        "contexts": [{
            "name": context,
            "context": { "cluster": context, "user": context, "namespace": environment },
        }],
        "current-context": context,
    });
    serde_yaml_ng::to_string(&config).expect("a kubeconfig serialises")
}

/// Prints the `ExecCredential` kubectl's exec plugin protocol asks for: a token for
/// `cluster` from `aws`'s credentials, and when kubectl must ask again.
pub async fn token(aws: &aws_config::SdkConfig, cluster: &str, region: &str) -> u8 {
    let Some(provider) = aws.credentials_provider() else {
        eprintln!("error: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID)");
        return exit::USAGE;
    };
    let credentials = match provider.provide_credentials().await {
        Ok(credentials) => credentials,
        Err(e) => {
            eprintln!("error: AWS credentials: {e}");
            return exit::USAGE;
        }
    };
    let now = SystemTime::now();
    let token = match strata_kubernetes::token::token(&credentials, region, cluster, now) {
        Ok(token) => token,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ERROR;
        }
    };
    // A little before the presigned URL expires, so kubectl never sends a dead token.
    let expires = now + strata_kubernetes::token::EXPIRES - Duration::from_secs(10);
    let expiration = DateTime::from(expires)
        .fmt(DateTimeFormat::DateTime)
        .expect("a time after 1970 formats");
    let credential = json!({
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {},
        "status": { "expirationTimestamp": expiration, "token": token },
    });
    println!("{credential}");
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_names_the_cluster_and_an_exec_plugin_and_holds_no_secret() {
        let text = document(
            "staging",
            "strata-staging",
            "eu-west-1",
            "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
            Some("Q0E="),
            Exec::Strata,
            false,
        );
        let doc: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(doc["current-context"], "strata-staging");
        assert_eq!(doc["contexts"][0]["context"]["namespace"], "staging");
        assert_eq!(
            doc["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        let exec = &doc["users"][0]["user"]["exec"];
        assert_eq!(exec["command"], "strata");
        assert_eq!(
            exec["args"],
            json!([
                "token",
                "--cluster",
                "strata-staging",
                "--region",
                "eu-west-1"
            ])
        );
        assert!(doc["users"][0]["user"].get("token").is_none());
        let aws = document(
            "pr-1",
            "strata-staging",
            "eu-west-1",
            "https://x",
            None,
            Exec::Aws,
            false,
        );
        assert!(aws.contains("get-token"), "{aws}");
        assert!(!aws.contains("certificate-authority-data"), "{aws}");
    }

    #[test]
    fn an_assumed_role_is_granted_as_its_role() {
        assert_eq!(
            principal_of("arn:aws:sts::123456789012:assumed-role/platform/alice@example.com"),
            "arn:aws:iam::123456789012:role/platform"
        );
        assert_eq!(
            principal_of("arn:aws:iam::123456789012:user/alice"),
            "arn:aws:iam::123456789012:user/alice"
        );
        assert_eq!(
            principal_of("arn:aws:sts::123456789012:user/moto"),
            "arn:aws:iam::123456789012:user/moto"
        );
    }
}
