//! Reaching the template's functions: Invoke, their function URLs and the API's front door,
//! and the events moto never delivers to them (schedules, ECR pushes).

use std::path::Path;

use crate::{LocalStack, LocalStackError, REGION, api_front, template};

impl LocalStack {
    /// The function URL cargo-lambda serves for a template function (by logical id), as
    /// `http://127.0.0.1:<port>/lambda-url/<binary>`; requests to it reach the function as
    /// function-URL events (payload v2, the shape API Gateway's HTTP API sends).
    pub fn function_url(&self, logical_id: &str) -> Option<String> {
        let addr = self.lambda_addr?;
        let function = self
            .template
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)?;
        Some(format!("http://{addr}/lambda-url/{}", function.binary))
    }

    /// Serves the API's front door on a free loopback port until the stack is dropped: the
    /// api function's URL behind a proxy that stands in for every applied spec's images,
    /// secrets and zone first (`localstack/src/api_front.rs`). Answers the URL the CLI uses
    /// as the API's endpoint (`…/lambda-url/<api binary>`, so requests are signed as for a
    /// function URL).
    pub async fn serve_api(&mut self) -> Result<String, LocalStackError> {
        let lambda = self.lambda_addr.ok_or_else(|| LocalStackError::Spawn {
            what: "the API's front door".into(),
            reason: "the local stack runs no functions".into(),
        })?;
        let path = self
            .function_url("ApiFunction")
            .and_then(|url| url.split_once("/lambda-url/").map(|(_, p)| p.to_owned()))
            .ok_or_else(|| LocalStackError::Template("no ApiFunction".into()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| LocalStackError::io(Path::new("127.0.0.1:0"), e))?;
        let front = std::sync::Arc::new(api_front::ApiFront::new(
            self.stand_in.clone(),
            self.principals.clone(),
            lambda,
        ));
        if let Some(old) = self.api_front.replace(tokio::spawn(front.serve(listener))) {
            old.abort();
        }
        Ok(format!("http://{addr}/lambda-url/{path}"))
    }

    /// Stands in for the template's `AWS::Scheduler::Schedule` (moto never fires one): invokes
    /// the function with the payload the schedule's `Input` makes, at the scheduled `time`
    /// (RFC 3339), and answers the function's result. A function error is an error here.
    pub async fn run_schedule(
        &self,
        schedule_logical_id: &str,
        time: &str,
    ) -> Result<serde_json::Value, LocalStackError> {
        let (function, input) = self.template.schedule(schedule_logical_id)?;
        let payload = input
            .replace("<aws.scheduler.execution-id>", &format!("local-{time}"))
            .replace("<aws.scheduler.scheduled-time>", time)
            .replace(
                "<aws.scheduler.schedule-arn>",
                &format!(
                    "arn:aws:scheduler:{REGION}:{}:schedule/default/{schedule_logical_id}",
                    template::ACCOUNT_ID
                ),
            );
        self.invoke(&function, &payload).await
    }

    /// Stands in for EventBridge delivering ECR's push event (moto never delivers to a
    /// Lambda): the `ECR Image Action` event of `repository:tag` in `region`, at `time`
    /// (RFC 3339), goes to every template function whose `EventBridgeRule` pattern matches
    /// it. Answers each function's result by logical id; a function error is an error here.
    pub async fn deliver_ecr_push(
        &self,
        region: &str,
        repository: &str,
        tag: &str,
        time: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, LocalStackError> {
        let event = serde_json::json!({
            "version": "0",
            "id": format!("local-push-{repository}-{tag}"),
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": template::ACCOUNT_ID,
            "time": time,
            "region": region,
            "resources": [],
            "detail": {
                "result": "SUCCESS",
                "repository-name": repository,
                "action-type": "PUSH",
                "image-tag": tag,
            },
        });
        let mut results = Vec::new();
        for rule in &self.template.rules {
            if template::pattern_matches(&rule.pattern, &event) {
                let answer = self.invoke(&rule.function, &event.to_string()).await?;
                results.push((rule.function.clone(), answer));
            }
        }
        Ok(results)
    }

    /// Invokes a template function (by logical id) through cargo-lambda, as Lambda's Invoke.
    pub async fn invoke(
        &self,
        logical_id: &str,
        payload: &str,
    ) -> Result<serde_json::Value, LocalStackError> {
        use http_body_util::{BodyExt, Full};
        let failed = |reason: String| LocalStackError::Invoke {
            function: logical_id.to_owned(),
            reason,
        };
        let addr = self
            .lambda_addr
            .ok_or_else(|| failed("the stack runs without Lambda functions".into()))?;
        let function = self
            .template
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .ok_or_else(|| failed("no such function in the template".into()))?;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<bytes::Bytes>>();
        let request = hyper::Request::post(format!(
            "http://{addr}/2015-03-31/functions/{}/invocations",
            function.binary
        ))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(payload.to_owned())))
        .map_err(|e| failed(e.to_string()))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return Err(failed(format!("{status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| failed(format!("{e}: {text}")))
    }
}
