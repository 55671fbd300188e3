//! CloudFormation's UPDATE change sets, whose changes moto does not list: worked out by the
//! router from the stack as it stands and the change set ([`crate::stacks`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::Router;

impl Router {
    /// CreateChangeSet, with the changes of an UPDATE change set worked out from the stack's
    /// template and parameters as they stand (read from moto first) and the change set's.
    pub(crate) async fn create_change_set(
        &self,
        region: &str,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let form = crate::stacks::form(&body);
        let field = |k: &str| form.get(k).cloned().unwrap_or_default();
        let stack = field("StackName");
        let update = form.get("ChangeSetType").is_none_or(|t| t == "UPDATE");
        let encoded: String =
            percent_encoding::utf8_percent_encode(&stack, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let before = match update {
            true => {
                let template = self
                    .moto_query(
                        "cloudformation",
                        region,
                        format!("Action=GetTemplate&Version=2010-05-15&StackName={encoded}&TemplateStage=Original"),
                    )
                    .await
                    .and_then(|xml| crate::stacks::xml_texts(&xml, "TemplateBody").pop());
                let described = self
                    .moto_query(
                        "cloudformation",
                        region,
                        format!("Action=DescribeStacks&Version=2010-05-15&StackName={encoded}"),
                    )
                    .await
                    .unwrap_or_default();
                let parameters: std::collections::BTreeMap<String, String> =
                    crate::stacks::xml_texts(&described, "ParameterKey")
                        .into_iter()
                        .zip(crate::stacks::xml_texts(&described, "ParameterValue"))
                        .collect();
                template.map(|t| (t, parameters))
            }
            false => None,
        };
        let response = self.forward(self.moto, parts, body).await;
        if response.status() == StatusCode::OK
            && let (Some((template, parameters)), Some(new)) = (before, form.get("TemplateBody"))
        {
            let changes = crate::stacks::changes(
                (&template, &parameters),
                (new, &crate::stacks::form_parameters(&form)),
            );
            self.change_sets
                .record((region.to_owned(), stack, field("ChangeSetName")), changes);
        }
        response
    }
}
