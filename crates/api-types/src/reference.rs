//! `docs/spec-reference.md`: the spec's JSON Schema ([`crate::schema::environment`]) as a
//! page, one table per type, so the reference is generated from the types like the schema.

use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write;

/// The page for `schema` (a root schema whose types are under `$defs`).
pub fn markdown(schema: &Value) -> String {
    let defs = schema["$defs"].as_object().cloned().unwrap_or_default();
    let mut page = String::from(
        "# Spec reference\n\
         [← The spec](spec.md) · Every field of an environment spec, generated from the Rust \
         types by `functions/api/tests/spec_schema.rs` (do not edit by hand). The same rules as \
         JSON Schema: [contracts/environment.schema.json](../contracts/environment.schema.json) \
         (`strata schema` prints it). `strata validate` and the API check more than a schema \
         can say (e.g. `minSize` ≤ `maxSize`); every refusal names its field.\n",
    );
    let title = schema["title"].as_str().unwrap_or("Environment");
    let mut queue = VecDeque::from([(String::from("Environment"), schema.clone())]);
    let mut seen = BTreeSet::from([String::from("Environment")]);
    while let Some((name, def)) = queue.pop_front() {
        let _ = write!(page, "\n## {name}\n\n");
        let described = match name.as_str() {
            "Environment" => schema["description"].as_str().or(Some(title)),
            _ => def["description"].as_str(),
        };
        if let Some(text) = described {
            let _ = writeln!(page, "{}\n", one_line(text));
        }
        for referenced in section(&mut page, &def) {
            if seen.insert(referenced.clone()) {
                let def = defs.get(&referenced).cloned().unwrap_or(Value::Null);
                queue.push_back((referenced, def));
            }
        }
    }
    page
}

/// Writes a type's table (an object's fields, or an enum's values); answers the types it
/// refers to, in order.
fn section(page: &mut String, def: &Value) -> Vec<String> {
    let mut refs = Vec::new();
    if let Some(values) = enum_values(def) {
        page.push_str("| value | meaning |\n|---|---|\n");
        for (value, meaning) in values {
            let _ = writeln!(page, "| `{value}` | {} |", one_line(&meaning));
        }
        return refs;
    }
    let Some(properties) = def["properties"].as_object() else {
        return refs;
    };
    let required: BTreeSet<&str> = def["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    page.push_str("| field | type | required / default | rules | description |\n");
    page.push_str("|---|---|---|---|---|\n");
    for (field, property) in properties {
        let (kind, referenced) = type_of(property);
        refs.extend(referenced);
        let presence = match (required.contains(field.as_str()), property.get("default")) {
            (true, _) => "required".to_owned(),
            (false, Some(default)) => format!("`{}`", default),
            (false, None) => "optional".to_owned(),
        };
        let _ = writeln!(
            page,
            "| `{field}` | {kind} | {presence} | {} | {} |",
            rules(property),
            one_line(property["description"].as_str().unwrap_or(""))
        );
    }
    refs
}

/// A unit enum's values and their meanings: schemars writes `enum` when no value has a
/// comment, else `oneOf` of `const`s.
fn enum_values(def: &Value) -> Option<Vec<(String, String)>> {
    if let Some(values) = def["enum"].as_array() {
        let meaning = def["description"].as_str().unwrap_or("").to_owned();
        return Some(
            values
                .iter()
                .map(|v| (v.as_str().unwrap_or("").to_owned(), meaning.clone()))
                .collect(),
        );
    }
    let variants = def["oneOf"].as_array()?;
    variants
        .iter()
        .map(|v| {
            let value = v["const"].as_str()?;
            let meaning = v["description"].as_str().unwrap_or("");
            Some((value.to_owned(), meaning.to_owned()))
        })
        .collect()
}

/// How a property's type reads (`string`, `array of [ServiceSpec](#servicespec)`, …), and
/// the types it refers to.
fn type_of(property: &Value) -> (String, Vec<String>) {
    if let Some(target) = property["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or(target).to_owned();
        return (format!("[{name}](#{})", name.to_lowercase()), vec![name]);
    }
    // Option<T>: `anyOf [T, null]`, or `type: [T, "null"]`.
    if let Some(options) = property["anyOf"].as_array() {
        let mut kinds = Vec::new();
        let mut refs = Vec::new();
        for option in options.iter().filter(|o| o["type"] != "null") {
            let (kind, referenced) = type_of(option);
            kinds.push(kind);
            refs.extend(referenced);
        }
        return (kinds.join(" or "), refs);
    }
    let kind = match &property["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .filter(|k| *k != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    match kind.as_str() {
        "array" => {
            let (item, refs) = type_of(&property["items"]);
            (format!("array of {item}"), refs)
        }
        "object" => match property.get("additionalProperties") {
            Some(value) if value.is_object() => {
                let (item, refs) = type_of(value);
                (format!("map of {item}"), refs)
            }
            _ => ("object".to_owned(), Vec::new()),
        },
        _ => (kind, Vec::new()),
    }
}

/// The constraints a property states, as short words.
fn rules(property: &Value) -> String {
    let mut rules = Vec::new();
    let words: [(&str, &str); 8] = [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("minItems", "items ≥"),
        ("maxItems", "items ≤"),
        ("pattern", "pattern"),
        ("enum", "one of"),
    ];
    for (key, word) in words {
        match property.get(key) {
            Some(Value::String(text)) => {
                rules.push(format!("{word} `{}`", text.replace('|', "\\|")))
            }
            Some(Value::Array(values)) => rules.push(format!(
                "{word} {}",
                values
                    .iter()
                    .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(value) => rules.push(format!("{word} {value}")),
            None => {}
        }
    }
    rules.join("; ")
}

/// A description on one table line: doc comments wrap, tables do not.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}
