//! Least privilege, derived from the code: every AWS operation a function's code can call
//! (its own crate and every workspace library it links, tests excluded) must be allowed by
//! that function's role in `infra/template.yaml`, and the role may allow nothing that no code
//! calls (beyond the permissions AWS requires on the caller's behalf, listed in [`implied`]
//! with the call that needs each).
//!
//! A call is an SDK fluent builder: `.operation_name()` with no arguments, ending in
//! `.send()` or `.into_paginator()` in the same statement, where `operation_name` is an
//! operation of an `aws-sdk-*` crate the crate depends on. The SDK's operations are read from
//! its source (`src/operation/<name>/`), so a new call needs no list kept by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use strata_localstack::Template;
use strata_localstack::policy::action_matches;

/// The IAM service prefix of each SDK crate the workspace uses.
fn iam_prefix(sdk: &str) -> Option<&'static str> {
    Some(match sdk {
        "aws-sdk-dynamodb" => "dynamodb",
        "aws-sdk-sfn" => "states",
        "aws-sdk-s3" => "s3",
        "aws-sdk-ec2" => "ec2",
        "aws-sdk-rds" => "rds",
        "aws-sdk-eks" => "eks",
        "aws-sdk-elasticloadbalancingv2" => "elasticloadbalancing",
        "aws-sdk-route53" => "route53",
        "aws-sdk-ecr" => "ecr",
        "aws-sdk-eventbridge" => "events",
        "aws-sdk-lambda" => "lambda",
        "aws-sdk-sqs" => "sqs",
        "aws-sdk-cloudformation" => "cloudformation",
        "aws-sdk-secretsmanager" => "secretsmanager",
        "aws-sdk-resourcegroupstagging" => "tag",
        "aws-sdk-sts" => "sts",
        "aws-sdk-iam" => "iam",
        _ => return None,
    })
}

/// The IAM actions an operation needs, where they are not its own name.
fn actions_of(prefix: &str, operation: &str) -> Vec<String> {
    let own = |action: &str| vec![format!("{prefix}:{action}")];
    match (prefix, operation) {
        ("s3", "list_objects_v2" | "head_bucket") => own("ListBucket"),
        ("s3", "list_object_versions") => own("ListBucketVersions"),
        ("s3", "put_bucket_encryption") => own("PutEncryptionConfiguration"),
        ("s3", "get_bucket_encryption") => own("GetEncryptionConfiguration"),
        ("s3", "put_public_access_block") => own("PutBucketPublicAccessBlock"),
        ("s3", "get_public_access_block") => own("GetBucketPublicAccessBlock"),
        // Deletes objects and, with version ids, their versions.
        ("s3", "delete_objects") => vec!["s3:DeleteObject".into(), "s3:DeleteObjectVersion".into()],
        ("lambda", "invoke") => own("InvokeFunction"),
        // Authorized by its items' actions: the store's transactions put and delete.
        ("dynamodb", "transact_write_items") => {
            vec!["dynamodb:PutItem".into(), "dynamodb:DeleteItem".into()]
        }
        _ => own(&pascal(operation)),
    }
}

/// Permissions AWS checks on the caller's behalf when an operation is called a certain way:
/// (the operation, a builder method that must be in the same call or "" for always, the
/// actions).
fn implied() -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    vec![
        // Tag-on-create: EC2 authorizes CreateTags for the tags of a create.
        ("ec2:CreateVpc", "tag_specifications", &["ec2:CreateTags"]),
        (
            "ec2:CreateSubnet",
            "tag_specifications",
            &["ec2:CreateTags"],
        ),
        (
            "ec2:CreateInternetGateway",
            "tag_specifications",
            &["ec2:CreateTags"],
        ),
        (
            "ec2:CreateRouteTable",
            "tag_specifications",
            &["ec2:CreateTags"],
        ),
        (
            "ec2:CreateNatGateway",
            "tag_specifications",
            &["ec2:CreateTags"],
        ),
        (
            "ec2:AllocateAddress",
            "tag_specifications",
            &["ec2:CreateTags"],
        ),
        (
            "ec2:CreateSecurityGroup",
            "tag_specifications",
            &["ec2:CreateTags"],
        ),
        // EKS passes the cluster and node roles, tags on create, and makes its service-linked
        // roles the first time in an account.
        (
            "eks:CreateCluster",
            "",
            &["iam:PassRole", "iam:CreateServiceLinkedRole"],
        ),
        ("eks:CreateCluster", "tags", &["eks:TagResource"]),
        (
            "eks:CreateNodegroup",
            "",
            &["iam:PassRole", "iam:CreateServiceLinkedRole"],
        ),
        ("eks:CreateNodegroup", "tags", &["eks:TagResource"]),
        // RDS tags on create, makes the managed master secret on the caller's behalf, and
        // its service-linked role the first time in an account.
        ("rds:CreateDBInstance", "tags", &["rds:AddTagsToResource"]),
        ("rds:CreateDBInstance", "", &["iam:CreateServiceLinkedRole"]),
        (
            "rds:CreateDBInstance",
            "manage_master_user_password",
            &[
                "secretsmanager:CreateSecret",
                "secretsmanager:TagResource",
                "kms:DescribeKey",
            ],
        ),
        (
            "rds:RestoreDBInstanceFromDBSnapshot",
            "tags",
            &["rds:AddTagsToResource"],
        ),
        (
            "rds:RestoreDBInstanceFromDBSnapshot",
            "manage_master_user_password",
            &[
                "secretsmanager:CreateSecret",
                "secretsmanager:TagResource",
                "kms:DescribeKey",
            ],
        ),
        // CloudFormation deploys with the role it is passed.
        ("cloudformation:CreateStack", "role_arn", &["iam:PassRole"]),
        (
            "cloudformation:CreateChangeSet",
            "role_arn",
            &["iam:PassRole"],
        ),
        // A delete that leaves a final snapshot creates it as the caller.
        (
            "rds:DeleteDBInstance",
            "final_db_snapshot_identifier",
            &["rds:CreateDBSnapshot"],
        ),
        ("rds:CreateDBSnapshot", "tags", &["rds:AddTagsToResource"]),
        (
            "rds:CreateDBSubnetGroup",
            "tags",
            &["rds:AddTagsToResource"],
        ),
    ]
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn workspace() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The host's target triple: the Lambda binaries are built for Linux, like the host here.
fn host() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host")
}

/// `cargo metadata` of the workspace for Linux, offline (the build has fetched everything).
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &host()])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Package {
    name: String,
    dir: PathBuf,
    /// Package ids of its normal (non-dev, non-build) dependencies.
    deps: Vec<String>,
    bins: Vec<String>,
}

fn packages(meta: &Value) -> BTreeMap<String, Package> {
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let normal = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap().to_owned())
            .collect();
        deps.insert(node["id"].as_str().unwrap().to_owned(), normal);
    }
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = p["id"].as_str().unwrap().to_owned();
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
            let bins = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect();
            let package = Package {
                name: p["name"].as_str().unwrap().to_owned(),
                dir: manifest.parent().unwrap().to_owned(),
                deps: deps.remove(&id).unwrap_or_default(),
                bins,
            };
            (id, package)
        })
        .collect()
}

/// The operations of an SDK crate: the folders of its `src/operation`.
fn operations(sdk_dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(sdk_dir.join("src/operation"))
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// The text of a source file without the items under `#[cfg(test)]` (a `mod x;` line or a
/// braced item).
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.starts_with("#[cfg(") && trimmed.contains("test") {
            let mut depth = 0i32;
            let mut opened = false;
            for item in lines.by_ref() {
                depth += item.matches('{').count() as i32 - item.matches('}').count() as i32;
                opened |= item.contains('{');
                if (opened && depth <= 0) || (!opened && item.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A call found in the code: its IAM actions, and where.
#[derive(Debug)]
struct Call {
    actions: Vec<String>,
    at: String,
}

/// The SDK calls in one crate's `src`, excluding test-only files and items.
fn calls_in(package: &Package, sdks: &[(String, BTreeSet<String>)]) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut files = vec![package.dir.join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy();
        if !name.ends_with(".rs") || ["tests.rs", "testing.rs", "fixtures.rs"].contains(&&*name) {
            continue;
        }
        let text = without_tests(&std::fs::read_to_string(&path).unwrap());
        let mut rest = text.as_str();
        while let Some(dot) = rest.find('.') {
            let after = &rest[dot + 1..];
            let len = after
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(after.len());
            let ident = &after[..len];
            rest = after;
            if len == 0 || !after[len..].starts_with("()") {
                continue;
            }
            // Sent in the same statement, or a builder bound to a variable (`let delete =
            // c.delete_db_instance()…;`) that is completed and sent further on.
            let statement = &after[..after.find(';').unwrap_or(after.len())];
            let before = &text[..text.len() - after.len() - 1];
            let bound = before
                .rfind([';', '{', '}'])
                .is_some_and(|i| before[i + 1..].trim_start().starts_with("let "));
            if !statement.contains(".send()") && !statement.contains(".into_paginator()") && !bound
            {
                continue;
            }
            // What the call is built with, up to where it is sent.
            let built = after
                .find(".send()")
                .map_or(statement, |end| &after[..end.min(4000)]);
            // When several of the crate's SDKs have this operation: those the file names, then
            // the one whose client the receiver is (`elb.describe_tags()` with
            // `use aws_sdk_elasticloadbalancingv2::Client as Elb`).
            let candidates: Vec<&(String, BTreeSet<String>)> =
                sdks.iter().filter(|(_, ops)| ops.contains(ident)).collect();
            let mut chosen: Vec<&&(String, BTreeSet<String>)> = if candidates.len() > 1 {
                candidates
                    .iter()
                    .filter(|(sdk, _)| text.contains(&sdk.replace('-', "_")))
                    .collect()
            } else {
                candidates.iter().collect()
            };
            if chosen.len() > 1 {
                let receiver = receiver(before);
                chosen.retain(|(sdk, _)| {
                    let krate = sdk.replace('-', "_");
                    let import = format!("use {krate}::Client as {};", pascal(receiver));
                    text.lines().any(|l| l.trim() == import)
                });
            }
            let at = format!(
                "{}: .{ident}()",
                path.strip_prefix(workspace()).unwrap().display()
            );
            assert!(
                chosen.len() <= 1,
                "{at}: the operation is in several SDKs this file names; say which client"
            );
            if let Some((sdk, _)) = chosen.first() {
                let prefix = iam_prefix(sdk).unwrap_or_else(|| panic!("{sdk}: no IAM prefix"));
                let mut actions = actions_of(prefix, ident);
                for (operation, when, extra) in implied() {
                    if actions.iter().any(|a| a.eq_ignore_ascii_case(operation))
                        && (when.is_empty()
                            || built.contains(&format!(".{when}("))
                            || built.contains(&format!(".set_{when}(")))
                    {
                        actions.extend(extra.iter().map(|a| (*a).to_owned()));
                    }
                }
                calls.push(Call { actions, at });
            }
        }
    }
    calls
}

/// The variable an expression ending just before a `.` calls through: `elb` in
/// `elb\n    .describe_tags()`.
fn receiver(before: &str) -> &str {
    let before = before.trim_end();
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    &before[start..]
}

/// Every workspace package reachable from `id` by normal dependencies, itself included.
fn linked<'a>(
    id: &'a str,
    all: &'a BTreeMap<String, Package>,
    members: &BTreeSet<String>,
) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![id];
    while let Some(id) = todo.pop() {
        if members.contains(id) && seen.insert(id) {
            todo.extend(all[id].deps.iter().map(String::as_str));
        }
    }
    seen
}

/// For each function of the template: the calls its code can make.
fn calls_by_function(template: &Template) -> BTreeMap<String, Vec<Call>> {
    let meta = metadata();
    let all = packages(&meta);
    let members: BTreeSet<String> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    let mut out = BTreeMap::new();
    for function in &template.functions {
        let (id, _) = all
            .iter()
            .find(|(id, p)| members.contains(*id) && p.bins.contains(&function.binary))
            .unwrap_or_else(|| panic!("no workspace binary {}", function.binary));
        let mut calls = Vec::new();
        for crate_id in linked(id, &all, &members) {
            let package = &all[crate_id];
            let sdks: Vec<(String, BTreeSet<String>)> = package
                .deps
                .iter()
                .map(|d| &all[d])
                .filter(|d| d.name.starts_with("aws-sdk-"))
                .map(|d| (d.name.clone(), operations(&d.dir)))
                .collect();
            calls.extend(calls_in(package, &sdks));
        }
        out.insert(function.logical_id.clone(), calls);
    }
    out
}

fn template() -> Template {
    Template::load(
        &workspace().join("infra/template.yaml"),
        "eu-west-1",
        "strata",
    )
    .unwrap()
}

#[test]
fn every_call_a_function_makes_is_allowed_and_nothing_else_is() {
    let template = template();
    let calls = calls_by_function(&template);
    let mut problems = Vec::new();
    // A role shared by several functions (the Kubernetes steps') needs what any of them calls.
    let mut needed_by_role: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for function in &template.functions {
        let calls = &calls[&function.logical_id];
        assert!(
            !calls.is_empty(),
            "{}: no AWS call found; the scan is broken",
            function.logical_id
        );
        let permissions = &function.permissions;
        for call in calls {
            for action in &call.actions {
                if !permissions.allows(action) {
                    problems.push(format!(
                        "{} ({}): {} needs {action}, which the role does not allow",
                        function.logical_id, permissions.role, call.at
                    ));
                }
                needed_by_role
                    .entry(&permissions.role)
                    .or_default()
                    .entry(action.clone())
                    .or_insert_with(|| call.at.clone());
            }
        }
    }
    let mut seen = BTreeSet::new();
    for function in &template.functions {
        let permissions = &function.permissions;
        if !seen.insert(&permissions.role) {
            continue;
        }
        let needed = &needed_by_role[permissions.role.as_str()];
        for statement in &permissions.statements {
            for pattern in &statement.actions {
                if !needed.keys().any(|a| action_matches(pattern, a)) {
                    problems.push(format!(
                        "{}: the role allows {pattern}, which no code of its functions calls",
                        permissions.role
                    ));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The scan itself: it finds calls through linked libraries and ignores test code.
#[test]
fn the_scan_sees_library_calls_and_skips_tests() {
    let template = template();
    let calls = calls_by_function(&template);
    let actions = |function: &str| -> BTreeSet<String> {
        calls[function]
            .iter()
            .flat_map(|c| c.actions.iter().cloned())
            .collect()
    };
    // The store crate's lease is linked into every function.
    assert!(actions("LifecycleFunction").contains("dynamodb:PutItem"));
    // strata-registry's ECR listing reaches the app step through its library.
    assert!(actions("AppFunction").contains("ecr:DescribeImages"));
    // The network crate's tests script CreateSecurityGroup errors; only its code counts.
    assert!(actions("NetworkFunction").contains("ec2:CreateSecurityGroup"));
    assert!(!actions("DnsFunction").iter().any(|a| a.starts_with("ec2:")));
    let stripped = without_tests(
        "fn a() {}\n#[cfg(test)]\nmod tests {\n  fn b() { x.send(); }\n}\nfn c() {}\n",
    );
    assert_eq!(stripped, "fn a() {}\nfn c() {}\n");
}
