//! A request's IAM action (`X-Amz-Target`, a query `Action=`, or the REST route) and how its
//! service words an error.

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};

/// How a service words its errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    /// awsJson (DynamoDB, Step Functions, EventBridge, ECR, Secrets Manager, Tagging) and
    /// restJson (EKS, Lambda).
    Json,
    /// EC2's query dialect.
    Ec2,
    /// awsQuery (RDS, ELB) and restXml (Route 53).
    QueryXml,
    /// S3's bare `<Error>`.
    S3,
}

pub(super) fn denied(protocol: Protocol, message: &str) -> Response<Full<Bytes>> {
    error(protocol, StatusCode::FORBIDDEN, "AccessDenied", message)
}

/// An error with `code` (the JSON services' `__type` gets `Exception` appended, EC2's
/// `AccessDenied` is `UnauthorizedOperation`) as `protocol` words it.
pub fn error(
    protocol: Protocol,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let json_type = if code.ends_with("Exception") {
        code.to_owned()
    } else {
        format!("{code}Exception")
    };
    let ec2_code = if code == "AccessDenied" {
        "UnauthorizedOperation"
    } else {
        code
    };
    let (status, content_type, body) = match protocol {
        Protocol::Json => (
            status,
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": json_type, "message": message}).to_string(),
        ),
        Protocol::Ec2 => (
            status,
            "text/xml",
            format!(
                "<Response><Errors><Error><Code>{ec2_code}</Code><Message>{message}\
                 </Message></Error></Errors><RequestID>local</RequestID></Response>"
            ),
        ),
        Protocol::QueryXml => (
            status,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>\
                 {message}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
            ),
        ),
        Protocol::S3 => (
            status,
            "application/xml",
            format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-ErrorType", json_type.as_str())
        .header("x-amzn-RequestId", "local")
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

/// The SigV4 signing name: `…/Credential=AKID/20261204/eu-west-1/ec2/aws4_request…`.
pub(crate) fn signing_name(parts: &Parts) -> Option<String> {
    let auth = parts.headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    credential.split('/').nth(3).map(str::to_owned)
}

/// The IAM action of a request, and how its service words an error; or the route that could
/// not be mapped.
pub fn action(parts: &Parts, body: &[u8]) -> Result<(String, Protocol), String> {
    let service = signing_name(parts).unwrap_or_default();
    let path = parts.uri.path();
    let route = format!("{service} {} {path}", parts.method);
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        let operation = target.rsplit('.').next().unwrap_or(target);
        let prefix = match service.as_str() {
            "tagging" => "tag",
            other => other,
        };
        return Ok((format!("{prefix}:{operation}"), Protocol::Json));
    }
    let form = String::from_utf8_lossy(body);
    if let Some(operation) = form
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
    {
        let protocol = if service == "ec2" {
            Protocol::Ec2
        } else {
            Protocol::QueryXml
        };
        return Ok((format!("{service}:{operation}"), protocol));
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let query = parts.uri.query().unwrap_or_default();
    let has = |key: &str| {
        query
            .split('&')
            .any(|p| p == key || p.starts_with(&format!("{key}=")))
    };
    let method = parts.method.as_str();
    let operation = match service.as_str() {
        "s3" => s3_action(method, segments.len(), &has),
        "eks" => eks_action(method, &segments, body),
        "route53" => route53_action(method, &segments),
        "lambda" if method == "POST" && path.ends_with("/invocations") => Some("InvokeFunction"),
        _ => None,
    }
    .ok_or(route)?;
    let protocol = match service.as_str() {
        "s3" => Protocol::S3,
        "route53" => Protocol::QueryXml,
        _ => Protocol::Json,
    };
    Ok((format!("{service}:{operation}"), protocol))
}

/// S3's REST routes, path-style: `/bucket[?subresource]` or `/bucket/key`.
fn s3_action(method: &str, depth: usize, has: &dyn Fn(&str) -> bool) -> Option<&'static str> {
    let bucket_level = depth == 1;
    Some(match method {
        "PUT" if bucket_level && has("tagging") => "PutBucketTagging",
        "PUT" if bucket_level && has("encryption") => "PutEncryptionConfiguration",
        "PUT" if bucket_level && has("publicAccessBlock") => "PutBucketPublicAccessBlock",
        "PUT" if bucket_level && has("versioning") => "PutBucketVersioning",
        "PUT" if bucket_level => "CreateBucket",
        "GET" if bucket_level && has("tagging") => "GetBucketTagging",
        "GET" if bucket_level && has("versioning") => "GetBucketVersioning",
        "GET" if bucket_level && has("encryption") => "GetEncryptionConfiguration",
        "GET" if bucket_level && has("publicAccessBlock") => "GetBucketPublicAccessBlock",
        "GET" if bucket_level && has("versions") => "ListBucketVersions",
        "GET" | "HEAD" if bucket_level => "ListBucket",
        "POST" if bucket_level && has("delete") => "DeleteObject",
        "DELETE" if bucket_level => "DeleteBucket",
        "DELETE" if depth > 1 && has("versionId") => "DeleteObjectVersion",
        "DELETE" if depth > 1 => "DeleteObject",
        "PUT" if depth > 1 => "PutObject",
        "GET" | "HEAD" if depth > 1 => "GetObject",
        _ => return None,
    })
}

/// EKS's REST routes.
fn eks_action(method: &str, s: &[&str], body: &[u8]) -> Option<&'static str> {
    Some(match (method, s) {
        ("GET", ["clusters"]) => "ListClusters",
        ("POST", ["clusters"]) => "CreateCluster",
        ("GET", ["clusters", _]) => "DescribeCluster",
        ("DELETE", ["clusters", _]) => "DeleteCluster",
        ("POST", ["clusters", _, "updates"]) => {
            if String::from_utf8_lossy(body).contains("\"version\"") {
                "UpdateClusterVersion"
            } else {
                "UpdateClusterConfig"
            }
        }
        ("GET", ["clusters", _, "node-groups"]) => "ListNodegroups",
        ("POST", ["clusters", _, "node-groups"]) => "CreateNodegroup",
        ("GET", ["clusters", _, "node-groups", _]) => "DescribeNodegroup",
        ("DELETE", ["clusters", _, "node-groups", _]) => "DeleteNodegroup",
        ("POST", ["clusters", _, "node-groups", _, "update-config"]) => "UpdateNodegroupConfig",
        ("POST", ["clusters", _, "node-groups", _, "update-version"]) => "UpdateNodegroupVersion",
        ("POST", ["clusters", _, "access-entries"]) => "CreateAccessEntry",
        ("GET", ["clusters", _, "access-entries", _]) => "DescribeAccessEntry",
        ("POST", ["clusters", _, "access-entries", _, "access-policies"]) => {
            "AssociateAccessPolicy"
        }
        ("POST", ["tags", ..]) => "TagResource",
        _ => return None,
    })
}

/// Route 53's REST routes (`/2013-04-01/...`).
fn route53_action(method: &str, s: &[&str]) -> Option<&'static str> {
    Some(match (method, s) {
        ("GET", [_, "hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", [_, "hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", [_, "hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", [_, "change", _]) => "GetChange",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = hyper::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn signed(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20261204/eu-west-1/{service}/aws4_request, \
             SignedHeaders=host, Signature=0"
        )
    }

    #[test]
    fn each_protocol_names_its_action() {
        let ecr = parts(
            "POST",
            "/",
            &[
                ("authorization", &signed("ecr")),
                (
                    "x-amz-target",
                    "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
                ),
            ],
        );
        assert_eq!(action(&ecr, b"").unwrap().0, "ecr:DescribeImages");
        let ec2 = parts("POST", "/", &[("authorization", &signed("ec2"))]);
        assert_eq!(
            action(&ec2, b"Action=CreateVpc&Version=2016-11-15").unwrap(),
            ("ec2:CreateVpc".to_owned(), Protocol::Ec2)
        );
        let s3 = parts(
            "PUT",
            "/strata-staging-assets?tagging",
            &[("authorization", &signed("s3"))],
        );
        assert_eq!(action(&s3, b"").unwrap().0, "s3:PutBucketTagging");
        let eks = parts(
            "POST",
            "/clusters/strata-staging/node-groups/ng/update-config",
            &[("authorization", &signed("eks"))],
        );
        assert_eq!(action(&eks, b"{}").unwrap().0, "eks:UpdateNodegroupConfig");
        let tagging = parts(
            "POST",
            "/",
            &[
                ("authorization", &signed("tagging")),
                (
                    "x-amz-target",
                    "ResourceGroupsTaggingAPI_20170126.GetResources",
                ),
            ],
        );
        assert_eq!(action(&tagging, b"").unwrap().0, "tag:GetResources");
        let unknown = parts("GET", "/nowhere", &[("authorization", &signed("eks"))]);
        assert_eq!(action(&unknown, b"").unwrap_err(), "eks GET /nowhere");
    }
}
