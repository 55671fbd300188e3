//! The GET every read and follow makes, retried through a passing failure of the endpoint.

use std::time::Duration;

use hyper::Method;
use serde::de::DeserializeOwned;

use crate::client::{ApiClient, ClientError};

/// A GET, which is safe to repeat: a failure of the endpoint itself (unreachable, a 5xx, as
/// API Gateway gives when a Lambda is throttled or slow to start) is retried a few times,
/// `every` apart (at least a second), before the command gives up; the API's own refusals
/// are not. A follow uses it for every poll, `get` for its reads.
pub(crate) async fn poll<T: DeserializeOwned>(
    client: &ApiClient,
    path: &str,
    every: Duration,
) -> Result<T, ClientError> {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        let error = match client.send(Method::GET, path, None).await {
            Ok(answer) => return answer.parse(),
            Err(e) => e,
        };
        let transient = match &error {
            ClientError::Unreachable { .. } => true,
            ClientError::Unexpected { status, .. } => *status >= 500,
            ClientError::Api(failure) => failure.status >= 500,
            _ => false,
        };
        if !transient || attempt == ATTEMPTS {
            return Err(error);
        }
        eprintln!(
            "warning: {error}; trying again (attempt {} of {ATTEMPTS})",
            attempt + 1
        );
        attempt += 1;
        tokio::time::sleep(every.max(Duration::from_secs(1))).await;
    }
}

#[cfg(test)]
mod poll_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper_util::rt::TokioIo;

    /// A loopback endpoint answering `failures` times with a bare 500 (as a proxy in front
    /// of the API does), then with an environment.
    async fn flaky(failures: u32) -> (String, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let counted = counted.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_: hyper::Request<Incoming>| {
                        let n = counted.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let (status, body) = if n < failures {
                                (500, "{\"title\":\"Internal Server Error\"}")
                            } else {
                                (
                                    200,
                                    "{\"name\":\"staging\",\"status\":{\"state\":\"Ready\"}}",
                                )
                            };
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (format!("http://{addr}"), calls)
    }

    fn client(endpoint: String) -> crate::client::ApiClient {
        let credentials =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let config = aws_config::SdkConfig::builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        crate::client::ApiClient::new(Some(endpoint), &config).unwrap()
    }

    #[tokio::test]
    async fn a_poll_outlives_a_passing_5xx_but_not_a_lasting_one() {
        let (endpoint, calls) = flaky(2).await;
        let body: serde_json::Value =
            super::poll(&client(endpoint), "/environments/staging", Duration::ZERO)
                .await
                .unwrap();
        assert_eq!(body["status"]["state"], "Ready");
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let (endpoint, calls) = flaky(100).await;
        let err = super::poll::<serde_json::Value>(
            &client(endpoint),
            "/environments/staging",
            Duration::ZERO,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("500"), "{err}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "four attempts, then it gives up"
        );
    }
}
