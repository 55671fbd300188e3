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
    strata_api::ROUTES
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

/// Where the generated part of `openapi.yaml` begins: everything after it is written from
/// the contract's types.
const MARKER: &str = "  # Generated from strata-api-types' types";

fn document_path() -> String {
    format!(
        "{}/openapi.yaml",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    )
}

/// `value` with every object's keys in order: the same text whether or not serde_json's
/// `preserve_order` is on (another crate of the workspace turns it on for everyone).
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

/// `components.schemas`, as the document holds it.
fn generated_schemas() -> String {
    let schemas = serde_json::Value::Object(strata_api_types::schema::components());
    let schemas = serde_json::json!({ "schemas": sorted(schemas) });
    let yaml = serde_yaml_ng::to_string(&schemas).expect("schemas serialise as YAML");
    let indented: String = yaml.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "{MARKER}; do not edit below by hand (STRATA_WRITE_OPENAPI=1 cargo test -p strata-api --test openapi).\n{indented}"
    )
}

#[test]
fn the_document_s_schemas_are_the_ones_generated_from_the_contract_types() {
    let path = document_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text
        .find(MARKER)
        .expect("openapi.yaml ends with the generated schemas");
    let (written, checked_in) = text.split_at(at);
    let generated = generated_schemas();
    if std::env::var_os("STRATA_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, format!("{written}{generated}")).unwrap();
    }
    assert!(
        checked_in == generated,
        "{path}: its schemas differ from the contract's types; run STRATA_WRITE_OPENAPI=1 cargo test -p strata-api --test openapi"
    );
}

/// The schema a JSON content names, through `components.responses` references.
fn json_schema_ref<'a>(doc: &'a Value, response: &'a Value) -> Option<&'a str> {
    let response = match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/responses/")?;
            &doc["components"]["responses"][name]
        }
        None => response,
    };
    response["content"]["application/json"]["schema"]["$ref"].as_str()
}

#[test]
fn every_json_answer_and_body_is_a_type_of_the_contract() {
    let doc = read("openapi.yaml");
    let schemas = strata_api_types::schema::components();
    let mut answers = 0;
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            if method.as_str() == Some("parameters") {
                continue;
            }
            for (status, response) in operation["responses"].as_mapping().unwrap() {
                let at = format!("{method:?} {path:?} {status:?}");
                let reference = json_schema_ref(&doc, response)
                    .unwrap_or_else(|| panic!("{at}: its JSON is not a $ref to a contract type"));
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("{at}: {reference}"));
                assert!(
                    strata_api_types::schema::BODIES.contains(&name) && schemas.contains_key(name),
                    "{at}: {name} is not a body of the contract"
                );
                answers += 1;
            }
        }
    }
    assert!(answers > 30, "{answers}");
    // A spec sent as JSON is described by the spec's own type.
    assert_eq!(
        doc["components"]["requestBodies"]["Spec"]["content"]["application/json"]["schema"]["$ref"]
            .as_str(),
        Some("#/components/schemas/Environment")
    );
}

#[test]
fn the_custom_component_contract_s_schema_is_generated_from_its_types() {
    let path = format!(
        "{}/../../contracts/custom-component.schema.json",
        std::env::var("CARGO_MANIFEST_DIR").unwrap()
    );
    // Sorted: serde_json keeps insertion order when a crate of the workspace asks for it.
    let generated =
        serde_json::to_string_pretty(&sorted(strata_api_types::schema::component_contract()))
            .unwrap()
            + "\n";
    if std::env::var_os("STRATA_WRITE_OPENAPI").is_some() {
        std::fs::create_dir_all(std::path::Path::new(&path).parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{path}: differs from strata_core::component_contract; run STRATA_WRITE_OPENAPI=1 cargo test -p strata-api --test openapi"
    );
}

#[test]
fn the_document_carries_the_contract_version() {
    let doc = read("openapi.yaml");
    assert_eq!(
        doc["info"]["version"].as_str(),
        Some(strata_api_types::contract::CONTRACT),
        "openapi.yaml's info.version is the API contract (strata_api_types::contract)"
    );
}
