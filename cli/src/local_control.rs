//! What only the process holding the local stack can do, made reachable from another
//! `strata` process: push an image and deliver ECR's push event (EventBridge's part, with
//! the template's rules), scale a node group or a Deployment behind Strata's back. A JSON
//! request per `POST /` on a loopback port `strata local start` writes into the context;
//! `strata local push` and `strata local drift` send them.

use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use strata_localstack::LocalStack;
use tokio::net::TcpListener;

use crate::show;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Control {
    /// A CI pipeline's push of `repository:tag`, then ECR's push event to every function
    /// whose rule matches it.
    #[serde(rename_all = "camelCase")]
    PushImage {
        /// The registry's account id.
        registry: String,
        region: String,
        repository: String,
        tag: String,
    },
    /// The node group's desired size changed in EKS.
    #[serde(rename_all = "camelCase")]
    ScaleNodeGroup {
        region: String,
        cluster: String,
        nodegroup: String,
        desired: u32,
    },
    /// A Deployment's replicas changed through the cluster's API (as `kubectl scale`).
    #[serde(rename_all = "camelCase")]
    ScaleDeployment {
        region: String,
        cluster: String,
        namespace: String,
        name: String,
        replicas: u32,
    },
}

/// What a control request answers: for a push, each function the event reached and its
/// result.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Done {
    #[serde(default)]
    pub delivered: Vec<(String, serde_json::Value)>,
}

/// Listens on a free loopback port; answers its address. Serves until the process ends; it
/// holds the stack weakly, so dropping the stack still stops it.
pub async fn serve(stack: Weak<LocalStack>) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let stack = stack.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let stack = stack.clone();
                    async move {
                        let response = match stack.upgrade() {
                            Some(stack) => answer(&stack, req).await,
                            None => reply(StatusCode::SERVICE_UNAVAILABLE, "\"stopping\"".into()),
                        };
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}/"))
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

async fn answer(stack: &Arc<LocalStack>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != hyper::Method::POST || req.uri().path() != "/" {
        return reply(StatusCode::NOT_FOUND, "\"POST / only\"".into());
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                serde_json::json!(e.to_string()).to_string(),
            );
        }
    };
    let control: Control = match serde_json::from_slice(&body) {
        Ok(control) => control,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                serde_json::json!(e.to_string()).to_string(),
            );
        }
    };
    match carry_out(stack, control).await {
        Ok(done) => reply(
            StatusCode::OK,
            serde_json::to_string(&done).expect("serialisable"),
        ),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!(e.to_string()).to_string(),
        ),
    }
}

async fn carry_out(
    stack: &LocalStack,
    control: Control,
) -> Result<Done, strata_localstack::LocalStackError> {
    match control {
        Control::PushImage {
            registry,
            region,
            repository,
            tag,
        } => {
            stack
                .push_image_to(&registry, &region, &repository, &tag)
                .await?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let delivered = stack
                .deliver_ecr_push(&region, &repository, &tag, &show::utc(now))
                .await?;
            Ok(Done { delivered })
        }
        Control::ScaleNodeGroup {
            region,
            cluster,
            nodegroup,
            desired,
        } => {
            stack
                .scale_node_group(&region, &cluster, &nodegroup, desired)
                .await?;
            Ok(Done::default())
        }
        Control::ScaleDeployment {
            region,
            cluster,
            namespace,
            name,
            replicas,
        } => {
            stack
                .scale_deployment(&region, &cluster, &namespace, &name, replicas)
                .await?;
            Ok(Done::default())
        }
    }
}

/// Sends one control request to the local stack's control port.
pub async fn send(url: &str, control: &Control) -> Result<Done, String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let request = Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_string(control).expect("serialisable"),
        )))
        .map_err(|e| e.to_string())?;
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("the local stack's control port ({url}): {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        let reason: String = serde_json::from_slice(&body)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        return Err(reason);
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}
