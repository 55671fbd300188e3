//! The bearer token EKS accepts: `k8s-aws-v1.` + the base64url of a presigned STS
//! GetCallerIdentity URL whose signature covers the `x-k8s-aws-id` header (the cluster's
//! name). The API server replays the URL to STS with that header, so a token minted for one
//! cluster is refused by any other. Minted per call; nothing is stored.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

pub const PREFIX: &str = "k8s-aws-v1.";
/// The header whose signed value names the cluster.
pub const CLUSTER_HEADER: &str = "x-k8s-aws-id";
/// What aws-iam-authenticator and `aws eks get-token` use; EKS caps tokens at 15 minutes.
pub const EXPIRES: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
#[error("cannot sign the EKS token: {0}")]
pub struct TokenError(String);

fn sts_url(region: &str) -> String {
    format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15")
}

/// The presigned GetCallerIdentity URL for `cluster`, signed at `at`.
pub fn presigned_url(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    at: SystemTime,
) -> Result<String, TokenError> {
    let url = sts_url(region);
    let host = format!("sts.{region}.amazonaws.com");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| TokenError(e.to_string()))?
        .into();
    let headers = [("host", host.as_str()), (CLUSTER_HEADER, cluster)];
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| TokenError(e.to_string()))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| TokenError(e.to_string()))?
        .into_parts();
    let (_, query) = instructions.into_parts();
    let mut signed = url;
    for (name, value) in query {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.push_str(&encode_query_value(&value));
    }
    Ok(signed)
}

/// The token for `cluster`: what goes after `Authorization: Bearer`.
pub fn token(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    at: SystemTime,
) -> Result<String, TokenError> {
    let url = presigned_url(credentials, region, cluster, at)?;
    let encoded = aws_smithy_types::base64::encode(url.as_bytes());
    // base64url without padding, as EKS expects.
    let url_safe: String = encoded
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    Ok(format!("{PREFIX}{url_safe}"))
}

/// The presigned URL inside a token, if it is one.
pub fn decode(token: &str) -> Option<String> {
    let body = token.strip_prefix(PREFIX)?;
    let standard: String = body
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let padded = format!("{standard}{}", "=".repeat((4 - standard.len() % 4) % 4));
    let bytes = aws_smithy_types::base64::decode(padded).ok()?;
    String::from_utf8(bytes).ok()
}

/// SigV4's query encoding: everything but unreserved characters is percent-encoded.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials::new("AKIDEXAMPLE", "secret", None, None, "test")
    }

    fn query(url: &str, name: &str) -> Option<String> {
        url.split_once('?')?
            .1
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    #[test]
    fn token_is_a_presigned_get_caller_identity_for_the_cluster_and_region() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let token = token(&credentials(), "eu-west-1", "strata-staging", at).unwrap();
        assert!(token.starts_with("k8s-aws-v1."));
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
        let url = decode(&token).unwrap();
        assert!(
            url.starts_with("https://sts.eu-west-1.amazonaws.com/?"),
            "{url}"
        );
        assert_eq!(query(&url, "Action").as_deref(), Some("GetCallerIdentity"));
        assert_eq!(query(&url, "X-Amz-Expires").as_deref(), Some("60"));
        assert_eq!(
            query(&url, "X-Amz-SignedHeaders").as_deref(),
            Some("host%3Bx-k8s-aws-id")
        );
        let credential = query(&url, "X-Amz-Credential").unwrap();
        assert!(
            credential.ends_with("%2Feu-west-1%2Fsts%2Faws4_request"),
            "{credential}"
        );
        assert_eq!(
            url,
            presigned_url(&credentials(), "eu-west-1", "strata-staging", at).unwrap()
        );
    }

    #[test]
    fn the_signature_binds_the_cluster_name_and_the_time() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let signature = |cluster: &str, at| {
            query(
                &presigned_url(&credentials(), "eu-west-1", cluster, at).unwrap(),
                "X-Amz-Signature",
            )
            .unwrap()
        };
        assert_eq!(signature("a", at), signature("a", at));
        assert_ne!(signature("a", at), signature("b", at));
        assert_ne!(
            signature("a", at),
            signature("a", at + Duration::from_secs(1))
        );
    }

    #[test]
    fn only_tokens_decode() {
        assert_eq!(decode("Bearer abc"), None);
        assert_eq!(decode("k8s-aws-v1.!!!"), None);
    }
}
