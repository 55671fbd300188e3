//! Test infrastructure: what an environment takes from outside Strata, put into the emulator
//! before a run — image tags in ECR repositories, secrets the spec's services reference, and
//! the Route 53 zone its DNS name lives in. On AWS these exist already (a CI pipeline pushes
//! the images, a person creates the secrets and the zone); Strata only reads them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;

use http_body_util::BodyExt;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use strata_core::Environment;

use crate::LocalStackError;

pub(crate) struct StandIn {
    pub moto: SocketAddr,
    /// What was already put in place: each stand-in is made once per local stack.
    pub made: Mutex<BTreeSet<String>>,
}

/// The lowest version a constraint names (`^1.4` → `1.4.0`): a tag it is sure to accept.
fn lowest_named(constraint: &str) -> Option<String> {
    let requirement = semver::VersionReq::parse(constraint).ok()?;
    let c = requirement.comparators.first()?;
    let mut version = semver::Version::new(c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0));
    version.pre = c.pre.clone();
    Some(version.to_string())
}

impl StandIn {
    /// Everything `env` reads that Strata does not create: one image per ECR service at the
    /// lowest version its constraint names, a value for every secret a service references,
    /// the DNS zone. Answers what it made, skipping what it made before.
    pub async fn stand_in_for(&self, env: &Environment) -> Result<Vec<String>, LocalStackError> {
        let mut made = Vec::new();
        for service in &env.spec.app.services {
            if let Some((registry, region, repository)) = service.ecr_repository() {
                let tag = lowest_named(&service.version).ok_or_else(|| {
                    failed(&service.name, format!("no version in {}", service.version))
                })?;
                let what = format!("image {registry}/{repository}:{tag} in {region}");
                if self.first(&what) {
                    self.push_image(registry, region, repository, &tag).await?;
                    made.push(what);
                }
            }
            for arn in service.env.iter().filter_map(|v| v.secret_arn.as_deref()) {
                let arn = arn.split('#').next().unwrap_or(arn);
                let region = arn.split(':').nth(3).unwrap_or(&env.spec.region);
                // moto finds a secret by the last part of a full ARN, taken as its name.
                let Some(name) = arn.split(":secret:").nth(1) else {
                    continue;
                };
                let what = format!("secret {name} in {region}");
                if self.first(&what) {
                    self.put_secret(region, name, crate::STAND_IN_SECRET_VALUE)
                        .await?;
                    made.push(what);
                }
            }
        }
        if let Some(dns) = &env.spec.dns {
            let what = format!("hosted zone {}", dns.zone);
            if self.first(&what) {
                self.hosted_zone(&dns.zone).await?;
                made.push(what);
            }
        }
        Ok(made)
    }

    fn first(&self, what: &str) -> bool {
        self.made
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(what.to_owned())
    }

    /// `request` to moto as the local stack's own call for `service` in `region`, carrying
    /// `body`: the answer's text, or why it failed (`what` names what it was for).
    pub(crate) async fn call(
        &self,
        request: hyper::http::request::Builder,
        service: &str,
        region: &str,
        body: String,
        what: &str,
    ) -> Result<String, LocalStackError> {
        let request = crate::fidelity::to_moto(request, service, region, body)
            .map_err(|e| failed(what, e.to_string()))?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let response = client
            .request(request)
            .await
            .map_err(|e| failed(what, e.to_string()))?;
        let status = response.status();
        let text = response
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .map_err(|e| failed(what, e.to_string()))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(failed(what, format!("HTTP {status}: {text}")))
        }
    }

    async fn json(
        &self,
        target: &str,
        service: &str,
        region: &str,
        body: Value,
        what: &str,
    ) -> Result<Value, LocalStackError> {
        let request = Request::post(format!("http://{}/", self.moto))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target);
        let text = self
            .call(request, service, region, body.to_string(), what)
            .await?;
        serde_json::from_str(&text).map_err(|e| failed(what, e.to_string()))
    }

    /// An image with `tag` in the ECR repository of the `registry` account (created when
    /// missing): moto keeps a repository made with a `registryId` under that registry, as
    /// an image in another account of one's organisation is on AWS.
    pub(crate) async fn push_image(
        &self,
        registry: &str,
        region: &str,
        repository: &str,
        tag: &str,
    ) -> Result<(), LocalStackError> {
        const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";
        let what = format!("ECR {registry}/{repository}:{tag}");
        let exists = self
            .json(
                &format!("{ECR}.DescribeRepositories"),
                "ecr",
                region,
                json!({"registryId": registry, "repositoryNames": [repository]}),
                &what,
            )
            .await
            .is_ok();
        if !exists {
            self.json(
                &format!("{ECR}.CreateRepository"),
                "ecr",
                region,
                json!({"registryId": registry, "repositoryName": repository}),
                &what,
            )
            .await?;
        }
        // A manifest unique to the tag, so each tag is its own image.
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": format!("sha256:{:064x}", fnv(&what))},
            "layers": [],
        });
        self.json(
            &format!("{ECR}.PutImage"),
            "ecr",
            region,
            json!({"registryId": registry, "repositoryName": repository, "imageTag": tag, "imageManifest": manifest.to_string()}),
            &what,
        )
        .await?;
        Ok(())
    }

    /// A Secrets Manager secret named `name` holding `value`.
    pub async fn put_secret(
        &self,
        region: &str,
        name: &str,
        value: &str,
    ) -> Result<(), LocalStackError> {
        self.json(
            "secretsmanager.CreateSecret",
            "secretsmanager",
            region,
            json!({"Name": name, "SecretString": value}),
            &format!("secret {name}"),
        )
        .await?;
        Ok(())
    }

    /// A public Route 53 hosted zone for `domain`.
    pub async fn hosted_zone(&self, domain: &str) -> Result<(), LocalStackError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>{domain}</Name><CallerReference>strata-local-{domain}</CallerReference></CreateHostedZoneRequest>"#
        );
        let request = Request::post(format!("http://{}/2013-04-01/hostedzone", self.moto))
            .header("content-type", "application/xml");
        self.call(
            request,
            "route53",
            "us-east-1",
            body,
            &format!("zone {domain}"),
        )
        .await?;
        Ok(())
    }
}

fn failed(what: &str, reason: String) -> LocalStackError {
    LocalStackError::Provision {
        what: what.to_owned(),
        reason,
    }
}

fn fnv(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
