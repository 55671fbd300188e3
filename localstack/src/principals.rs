//! Test infrastructure: the IAM principals the API's front door knows, as API Gateway's IAM
//! authorizer knows every principal of the account. A test makes a team's principal
//! ([`crate::LocalStack::principal`]: a role tagged in moto's IAM, assumed through moto's
//! STS); a request signed with its credentials is checked as API Gateway checks it (the
//! SigV4 signature recomputed, the clock skew) and reaches the api function with the
//! assumed role's ARN in `requestContext.authorizer.iam`. A request signed with the local
//! stack's dummy key, or not at all, is the local user's (no identity); any other key is
//! refused as API Gateway refuses an unknown one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::{ACCESS_KEY, LocalStack, LocalStackError, template};

/// AWS refuses a signature made further than this from its clock.
const SKEW: Duration = Duration::from_secs(15 * 60);

/// A principal's credentials and the ARN API Gateway reports for it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

/// Who signed a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Signer {
    /// Unsigned, or signed with the local stack's dummy key: the local user.
    Local,
    /// A known principal, its signature checked: its ARN.
    Principal(String),
    /// What API Gateway answers (403) instead.
    Refused(String),
}

#[derive(Default)]
pub(crate) struct Principals {
    by_key: Mutex<HashMap<String, Principal>>,
}

/// `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b,
/// Signature=HEX`, in parts.
struct Authorization<'a> {
    key: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn authorization(header: &str) -> Option<Authorization<'_>> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let field = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
    };
    let scope: Vec<&str> = field("Credential")?.split('/').collect();
    let [key, _, region, service, "aws4_request"] = scope.as_slice() else {
        return None;
    };
    Some(Authorization {
        key,
        region,
        service,
        signed_headers: field("SignedHeaders")?.split(';').collect(),
        signature: field("Signature")?,
    })
}

impl Principals {
    pub(crate) fn know(&self, principal: Principal) {
        self.by_key
            .lock()
            .expect("principals")
            .insert(principal.access_key_id.clone(), principal);
    }

    /// Who signed the request `parts` with `body`.
    pub(crate) fn signer(&self, parts: &hyper::http::request::Parts, body: &[u8]) -> Signer {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        // Unsigned, or anything but a SigV4 header (schemathesis sends made-up ones): the
        // local user's, as an unsigned request is.
        let Some(auth) = header("authorization").and_then(authorization) else {
            return Signer::Local;
        };
        if auth.key == ACCESS_KEY {
            return Signer::Local;
        }
        let Some(principal) = self
            .by_key
            .lock()
            .expect("principals")
            .get(auth.key)
            .cloned()
        else {
            return Signer::Refused(
                "The security token included in the request is invalid.".into(),
            );
        };
        let Some(at) = header("x-amz-date").and_then(crate::fidelity::amz_date) else {
            return Signer::Refused("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into());
        };
        let now = SystemTime::now();
        let skew = now.duration_since(at).unwrap_or_else(|e| e.duration());
        if skew > SKEW {
            return Signer::Refused(
                "Signature expired: the signing time is more than 15 minutes from now.".into(),
            );
        }
        let url = format!(
            "http://{}{}",
            header("host").unwrap_or_default(),
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        // The signer adds the date and the token itself.
        let headers: Vec<(&str, &str)> = auth
            .signed_headers
            .iter()
            .filter(|h| !matches!(**h, "x-amz-date" | "x-amz-security-token"))
            .map(|h| (*h, header(h).unwrap_or_default()))
            .collect();
        let identity = aws_credential_types::Credentials::new(
            &principal.access_key_id,
            &principal.secret_access_key,
            Some(principal.session_token.clone()),
            None,
            "local-stack",
        )
        .into();
        let expected = v4::SigningParams::builder()
            .identity(&identity)
            .region(auth.region)
            .name(auth.service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .ok()
            .and_then(|params| {
                let request = SignableRequest::new(
                    parts.method.as_str(),
                    &url,
                    headers.into_iter(),
                    SignableBody::Bytes(body),
                )
                .ok()?;
                let (instructions, _) = sign(request, &params.into()).ok()?.into_parts();
                let (headers, _) = instructions.into_parts();
                let signed = headers.iter().find(|h| h.name() == "authorization")?;
                authorization(signed.value()).map(|a| a.signature.to_owned())
            });
        if expected.as_deref() == Some(auth.signature) {
            Signer::Principal(principal.arn)
        } else {
            Signer::Refused(
                "The request signature we calculated does not match the signature you provided."
                    .into(),
            )
        }
    }
}

/// The text of the first `<tag>…</tag>` in an XML answer.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl LocalStack {
    /// A person of a team as the API sees one: the role `role` made in IAM with `tags`,
    /// assumed through STS; its credentials sign requests to the API's front door
    /// ([`LocalStack::serve_api`]), which reports the assumed role's ARN to the api function.
    pub async fn principal(
        &self,
        role: &str,
        tags: &[(&str, &str)],
    ) -> Result<Principal, LocalStackError> {
        let account = template::ACCOUNT_ID;
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        );
        let mut create = vec![
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", role),
            ("AssumeRolePolicyDocument", trust.as_str()),
        ];
        let keys: Vec<(String, String)> = (1..=tags.len())
            .map(|i| {
                (
                    format!("Tags.member.{i}.Key"),
                    format!("Tags.member.{i}.Value"),
                )
            })
            .collect();
        for ((key, value), (k, v)) in keys.iter().zip(tags) {
            create.push((key.as_str(), k));
            create.push((value.as_str(), v));
        }
        let failed = |what: &str, answer: Option<String>| LocalStackError::Spawn {
            what: format!("the principal {role}"),
            reason: format!("{what}: {}", answer.unwrap_or_else(|| "no answer".into())),
        };
        let made = self
            .router
            .moto_query("iam", "us-east-1", form(&create))
            .await;
        if !made
            .as_deref()
            .is_some_and(|a| a.contains("<CreateRoleResult>"))
        {
            return Err(failed("CreateRole", made));
        }
        let role_arn = format!("arn:aws:iam::{account}:role/{role}");
        let assume = [
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn.as_str()),
            ("RoleSessionName", "person"),
        ];
        let answer = self
            .router
            .moto_query("sts", "us-east-1", form(&assume))
            .await;
        let text = answer.clone().unwrap_or_default();
        let (Some(key), Some(secret), Some(token), Some(arn)) = (
            element(&text, "AccessKeyId"),
            element(&text, "SecretAccessKey"),
            element(&text, "SessionToken"),
            element(&text, "Arn"),
        ) else {
            return Err(failed("AssumeRole", answer));
        };
        let principal = Principal {
            arn: arn.to_owned(),
            access_key_id: key.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: token.to_owned(),
        };
        self.principals.know(principal.clone());
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_header_in_parts() {
        let a = authorization(
            "AWS4-HMAC-SHA256 Credential=ASIA1/20261207/us-east-1/lambda/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature=ab12",
        )
        .unwrap();
        assert_eq!(
            (a.key, a.region, a.service),
            ("ASIA1", "us-east-1", "lambda")
        );
        assert_eq!(a.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert_eq!(a.signature, "ab12");
        assert!(authorization("Bearer x").is_none());
    }

    /// A request the CLI's way of signing signed is taken; one changed after signing is not.
    #[test]
    fn a_signature_is_recomputed_and_compared() {
        let principals = Principals::default();
        let principal = Principal {
            arn: "arn:aws:sts::123456789012:assumed-role/shop/person".into(),
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
        };
        principals.know(principal.clone());
        let url = "http://127.0.0.1:9/lambda-url/api/environments/staging";
        let identity = aws_credential_types::Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("token".into()),
            None,
            "t",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [
            ("host", "127.0.0.1:9"),
            ("content-type", "application/yaml"),
        ];
        let signable = SignableRequest::new(
            "PUT",
            url,
            headers.into_iter(),
            SignableBody::Bytes(b"x: 1"),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let (signed, _) = instructions.into_parts();
        let mut request = hyper::Request::put(url)
            .header("host", "127.0.0.1:9")
            .header("content-type", "application/yaml");
        for header in &signed {
            request = request.header(header.name(), header.value());
        }
        let (parts, ()) = request.body(()).unwrap().into_parts();
        assert_eq!(
            principals.signer(&parts, b"x: 1"),
            Signer::Principal(principal.arn)
        );
        assert!(
            matches!(principals.signer(&parts, b"x: 2"), Signer::Refused(m) if m.contains("signature"))
        );
    }
}
