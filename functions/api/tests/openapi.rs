//! The routes the code serves, the routes `openapi.yaml` documents and the routes the
//! template gives API Gateway are the same set.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

fn read(relative: &str) -> Value {
    let path = format!(
        "{}/{relative}",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn served() -> BTreeSet<(String, String, String)> {
    api::ROUTES
        .iter()
        .map(|r| {
            (
                r.method.as_str().to_owned(),
                r.path.to_owned(),
                r.endpoint.operation_id().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_route_is_documented_and_every_documented_route_is_served() {
    let doc = read("openapi.yaml");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, operation) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            documented.insert((
                method.to_uppercase(),
                path.as_str().unwrap().to_owned(),
                operation["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path:?} has no operationId"))
                    .to_owned(),
            ));
        }
    }
    assert_eq!(served(), documented);
}

#[test]
fn the_template_routes_exactly_the_served_routes_to_the_api_function() {
    // The template's short-form tags (!Ref, !Sub) are plain tagged values to this parser.
    let template = read("../../infra/template.yaml");
    let events = template["Resources"]["ApiFunction"]["Properties"]["Events"]
        .as_mapping()
        .expect("ApiFunction has Events");
    let mut routed = BTreeSet::new();
    for (_, event) in events {
        assert_eq!(event["Type"].as_str(), Some("HttpApi"));
        let properties = &event["Properties"];
        routed.insert((
            properties["Method"].as_str().unwrap().to_owned(),
            properties["Path"].as_str().unwrap().to_owned(),
        ));
    }
    let served: BTreeSet<(String, String)> = served().into_iter().map(|(m, p, _)| (m, p)).collect();
    assert_eq!(served, routed);
    assert_eq!(
        template["Resources"]["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"].as_str(),
        Some("AWS_IAM"),
        "every route is IAM-authorised"
    );
}
