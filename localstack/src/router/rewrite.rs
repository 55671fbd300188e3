//! moto's answers reworded as AWS gives them: EKS endpoints at the cluster simulator, S3's
//! versioning root element, and the body rewriting they share.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;

use super::Router;

impl Router {
    /// DescribeCluster with the cluster's API server at the simulator, and the simulator's
    /// certificate as the cluster's CA: moto's endpoint is a made-up public name, the same
    /// for every cluster, and its CA is no certificate at all.
    pub(crate) async fn point_at_simulator(
        &self,
        cluster: &str,
        response: Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        let (mut head, body) = response.into_parts();
        // `forward` answers with a body already in memory: collecting it cannot fail.
        let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
        let Ok(mut described) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Response::from_parts(head, Full::new(bytes));
        };
        if described["cluster"]["endpoint"].is_string() {
            described["cluster"]["endpoint"] =
                format!("https://{}/clusters/{cluster}", self.simulator).into();
            described["cluster"]["certificateAuthority"] =
                serde_json::json!({ "data": self.simulator_ca });
        }
        head.headers.remove(hyper::header::CONTENT_LENGTH);
        head.headers.remove("x-amz-crc32");
        Response::from_parts(head, Full::new(Bytes::from(described.to_string())))
    }
}

/// The cluster a DescribeCluster path (`/clusters/<name>`) names.
pub(crate) fn described_cluster(path: &str) -> Option<String> {
    let name = path.strip_prefix("/clusters/")?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
}

/// GetBucketVersioning as S3 answers it: moto's root element is
/// `GetBucketVersioningResponse`, which the SDK refuses; S3's is `VersioningConfiguration`.
pub(crate) async fn versioning_as_aws(response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    rewritten(response, |bytes| {
        let text = String::from_utf8_lossy(bytes)
            .replace("GetBucketVersioningResponse", "VersioningConfiguration");
        Some(Bytes::from(text))
    })
    .await
}

/// The response with its body rewritten by `rewrite` (kept when it answers `None`).
pub(crate) async fn rewritten(
    response: Response<Full<Bytes>>,
    rewrite: impl FnOnce(&[u8]) -> Option<Bytes>,
) -> Response<Full<Bytes>> {
    let (mut head, body) = response.into_parts();
    // `forward` answers with a body already in memory: collecting it cannot fail.
    let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
    let body = rewrite(&bytes).unwrap_or(bytes);
    head.headers.remove(hyper::header::CONTENT_LENGTH);
    // moto's checksum would no longer match a rewritten body.
    head.headers.remove("x-amz-crc32");
    Response::from_parts(head, Full::new(body))
}
