//! The route table: every method and path the API serves, the endpoint each one is, and the
//! matching of a request to it (404 for no such path, 405 naming the methods it takes).

use lambda_http::http::Method;

use crate::ApiError;

/// What a route does; its name is the OpenAPI `operationId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Get,
    Apply,
    Plan,
    Delete,
    History,
    Rollback,
    ExtendTtl,
    Sync,
    Cancel,
    Sleep,
    Wake,
    Preview,
}

impl Endpoint {
    pub fn operation_id(self) -> &'static str {
        match self {
            Endpoint::List => "listEnvironments",
            Endpoint::Get => "getEnvironment",
            Endpoint::Apply => "applyEnvironment",
            Endpoint::Plan => "planEnvironment",
            Endpoint::Delete => "deleteEnvironment",
            Endpoint::History => "getHistory",
            Endpoint::Rollback => "rollbackEnvironment",
            Endpoint::ExtendTtl => "extendTtl",
            Endpoint::Sync => "syncEnvironment",
            Endpoint::Cancel => "cancelOperation",
            Endpoint::Sleep => "sleepEnvironment",
            Endpoint::Wake => "wakeEnvironment",
            Endpoint::Preview => "createPreview",
        }
    }
}

pub struct Route {
    pub method: Method,
    /// `{name}` matches one path segment: the environment's name.
    pub path: &'static str,
    pub endpoint: Endpoint,
}

/// Every route the API serves.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/environments",
        endpoint: Endpoint::List,
    },
    Route {
        method: Method::GET,
        path: "/environments/{name}",
        endpoint: Endpoint::Get,
    },
    Route {
        method: Method::PUT,
        path: "/environments/{name}",
        endpoint: Endpoint::Apply,
    },
    Route {
        method: Method::DELETE,
        path: "/environments/{name}",
        endpoint: Endpoint::Delete,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/plan",
        endpoint: Endpoint::Plan,
    },
    Route {
        method: Method::GET,
        path: "/environments/{name}/history",
        endpoint: Endpoint::History,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/rollback",
        endpoint: Endpoint::Rollback,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/ttl",
        endpoint: Endpoint::ExtendTtl,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/sync",
        endpoint: Endpoint::Sync,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/cancel",
        endpoint: Endpoint::Cancel,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/sleep",
        endpoint: Endpoint::Sleep,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/wake",
        endpoint: Endpoint::Wake,
    },
    Route {
        method: Method::POST,
        path: "/environments/{name}/previews",
        endpoint: Endpoint::Preview,
    },
];

/// The route for `method` and `path`, with the environment name it names.
pub fn route(method: &Method, path: &str) -> Result<(Endpoint, Option<String>), ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut allowed = Vec::new();
    for route in ROUTES {
        let pattern: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut name = None;
        let matches = pattern.iter().zip(&segments).all(|(p, s)| {
            if *p == "{name}" {
                name = Some((*s).to_owned());
                !s.is_empty()
            } else {
                p == s
            }
        });
        if !matches {
            continue;
        }
        if route.method == *method {
            return Ok((route.endpoint, name));
        }
        allowed.push(route.method.as_str());
    }
    if allowed.is_empty() {
        Err(ApiError::NoRoute {
            method: method.to_string(),
            path: path.to_owned(),
        })
    } else {
        Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_owned(),
            allow: allowed.join(", "),
        })
    }
}
