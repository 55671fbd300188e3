//! What a request carries, checked before anything is written: who called, the query
//! parameters, and the bodies (a spec, a TTL extension), each refusal naming the field.

use std::collections::BTreeSet;

use lambda_http::http::header;
use lambda_http::{Request, RequestExt};
use strata_control::{Flows, SyncRequests};
use strata_core::{
    Component, Environment, FieldError, Principal, check_environment_name, parse_duration,
};
use strata_store::Store;

use crate::{Api, ApiError, Callers, ChangeSets, Endpoint, Entity};

/// Page sizes for listings.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;

/// Who called on the local stack, whose function URL carries no IAM identity.
const LOCAL_CALLER: &str = "local (the local stack: no IAM)";

/// The query parameters a request may carry, checked once.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub(crate) limit: Option<u32>,
    pub(crate) cursor: Option<String>,
    pub(crate) allow_recreate: BTreeSet<Component>,
}

impl<S: Store, F: Flows, Q: SyncRequests, C: ChangeSets> Api<S, F, Q, C> {
    /// Who called: the IAM identity API Gateway's authorizer put in the request context,
    /// with its team and admin tags; on the local stack a request without one is the local
    /// user's, an admin. Deployed, a request without one is refused.
    pub(crate) async fn caller(&self, request: &Request) -> Result<Principal, ApiError> {
        let identity = request
            .request_context_ref()
            .and_then(|c| c.authorizer())
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone());
        let arn = match (identity, self.callers) {
            (Some(arn), _) => arn,
            (None, Callers::LocalStack) => return Ok(Principal::admin(LOCAL_CALLER)),
            (None, Callers::Iam) => return Err(ApiError::NoIdentity),
        };
        let Some(entity) = Entity::of(&arn, &self.secrets.account) else {
            return Ok(Principal::from_tags(arn, &Default::default()));
        };
        let tags = self
            .principals
            .tags(&entity)
            .await
            .map_err(ApiError::Unavailable)?;
        Ok(Principal::from_tags(arn, &tags))
    }

    /// Refuses a caller acting on `name` unless the stored environment (when there is
    /// one) belongs to its team; an admin is not asked, and costs no read.
    pub(crate) async fn authorize(&self, caller: &Principal, name: &str) -> Result<(), ApiError> {
        if caller.admin {
            return Ok(());
        }
        if let Some(stored) = self.store().get_spec(name).await? {
            caller.may_act_on(name, stored.environment.team())?;
        }
        Ok(())
    }

    /// Refuses a spec the caller may not apply or plan: one of another team, or a preview
    /// (`spec.preview.base`) of an environment that is not the caller's team's, which would
    /// run on its cluster and copy its database. Both ways of making a preview (this and
    /// `POST …/previews`) answer to the base's team.
    pub(crate) async fn authorize_spec(
        &self,
        caller: &Principal,
        environment: &Environment,
    ) -> Result<(), ApiError> {
        caller.may_act_on(environment.name(), environment.team())?;
        if caller.admin {
            return Ok(());
        }
        if let Some(preview) = &environment.spec.preview {
            let base = self.store().get_spec(&preview.base).await?;
            let team = base.as_ref().and_then(|b| b.environment.team());
            caller.may_act_on(&preview.base, team)?;
        }
        Ok(())
    }

    /// The one rule for what enters, whichever way a spec comes (PUT, plan, a preview's
    /// `set`): it names no secret the operator does not allow, every refusal by its field.
    /// (The spec's own rules ran when it was parsed: [`Environment::from_value`].)
    pub(crate) fn admit(&self, environment: &Environment) -> Result<(), ApiError> {
        let refused = self.secrets.check(environment);
        if refused.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(refused))
        }
    }
}

pub(crate) fn query(request: &Request, endpoint: Endpoint) -> Result<Query, ApiError> {
    let params = request.query_string_parameters();
    let accepted: &[&str] = match endpoint {
        Endpoint::List | Endpoint::History => &["limit", "cursor"],
        Endpoint::Apply | Endpoint::Plan => &["allowRecreate"],
        Endpoint::Get
        | Endpoint::Delete
        | Endpoint::Rollback
        | Endpoint::ExtendTtl
        | Endpoint::Sync
        | Endpoint::Cancel
        | Endpoint::Sleep
        | Endpoint::Wake
        | Endpoint::Preview => &[],
    };
    let mut errors = Vec::new();
    let mut query = Query::default();
    for (key, _) in params.iter() {
        if !accepted.contains(&key) {
            errors.push(FieldError::new(
                format!("query.{key}"),
                format!(
                    "unknown parameter; this route takes {}",
                    if accepted.is_empty() {
                        "none".to_owned()
                    } else {
                        accepted.join(", ")
                    }
                ),
            ));
        }
    }
    if let Some(limit) = params.first("limit") {
        match limit.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => query.limit = Some(n),
            _ => errors.push(FieldError::new(
                "query.limit",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )),
        }
    }
    query.cursor = params.first("cursor").map(str::to_owned);
    if let Some(cursor) = &query.cursor {
        // Cursors are what a previous page's `next` said: an environment name (list) or an
        // event's key (history). Anything else is the caller's mistake, not a 503.
        let valid = match endpoint {
            Endpoint::History => strata_store::is_history_cursor(cursor),
            _ => check_environment_name(cursor).is_ok(),
        };
        if !valid {
            errors.push(FieldError::new(
                "query.cursor",
                "is not a cursor this listing gave out; pass the previous page's next",
            ));
        }
    }
    for list in params.all("allowRecreate").unwrap_or_default() {
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match Component::from_name(word) {
                Some(c) if c.is_stateful() => {
                    query.allow_recreate.insert(c);
                }
                Some(_) => errors.push(FieldError::new(
                    "query.allowRecreate",
                    format!("{word} holds no data; only database and storage need allowing"),
                )),
                None => errors.push(FieldError::new(
                    "query.allowRecreate",
                    format!("unknown component {word:?}"),
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

const SPEC_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
];

/// The request's spec: the right content type, within the size limit, valid, and named
/// as the path names it.
/// An extension is 10 minutes to 30 days at a time.
const EXTENSION_SECONDS: std::ops::RangeInclusive<u64> = 600..=30 * 86_400;

/// The body of a TTL extension: `{"extendBy": "24h"}`.
pub(crate) fn extension_body(request: &Request) -> Result<u64, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(ApiError::UnsupportedMediaType(content_type.to_owned()));
    }
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > 1024 {
        return Err(ApiError::PayloadTooLarge {
            size: bytes.len(),
            limit: 1024,
        });
    }
    let invalid =
        |field: &str, message: &str| ApiError::Invalid(vec![FieldError::new(field, message)]);
    let body: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| invalid("(body)", &format!("is not JSON: {e}")))?;
    let object = body.as_object().ok_or_else(|| {
        invalid(
            "(body)",
            "must be an object such as {\"extendBy\": \"24h\"}",
        )
    })?;
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|k| *k != "extendBy")
        .map(|k| {
            FieldError::new(
                strata_core::spec::path_key(k),
                "unknown field; the body takes extendBy",
            )
        })
        .collect();
    let by = match object
        .get("extendBy")
        .map(|v| v.as_str().and_then(parse_duration))
    {
        Some(Some(by)) if EXTENSION_SECONDS.contains(&by) => Some(by),
        Some(_) => {
            errors.push(FieldError::new(
                "extendBy",
                "must be a duration between 10m and 30d, such as 24h",
            ));
            None
        }
        None => {
            errors.push(FieldError::new("extendBy", "is required, such as \"24h\""));
            None
        }
    };
    match by {
        Some(by) if errors.is_empty() => Ok(by),
        _ => Err(ApiError::Invalid(errors)),
    }
}

pub(crate) fn spec_body(request: &Request, name: &str) -> Result<Environment, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !SPEC_TYPES.contains(&media.as_str()) {
        return Err(ApiError::UnsupportedMediaType(content_type.to_owned()));
    }
    let bytes: &[u8] = request.body().as_ref();
    let limit = strata_core::spec::MAX_DOCUMENT_BYTES;
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::Invalid(vec![FieldError::new("(body)", "is not UTF-8 text")]))?;
    let environment = Environment::parse(text).map_err(|e| ApiError::Invalid(e.field_errors()))?;
    if environment.name() != name {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "metadata.name",
            format!(
                "is {:?}, but the path names {name:?}; they must be the same",
                environment.name()
            ),
        )]));
    }
    Ok(environment)
}
