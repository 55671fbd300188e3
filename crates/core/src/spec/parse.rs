//! Parsing a document: size and nesting limits first, then every unknown field and type
//! error at once (parsing on past each), then the rules of [`crate::validate`].

use super::{Environment, FieldError, SpecError};

/// Documents larger than this are refused before parsing (a spec is a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

impl Environment {
    /// Parses and validates a YAML or JSON document (JSON is YAML).
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(SpecError::Syntax(format!(
                "document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                text.len()
            )));
        }
        // The YAML scanner reads a whole flow collection before its own depth limit applies,
        // which takes seconds for 100k nested brackets: refuse those before parsing.
        if flow_depth(text) > MAX_FLOW_DEPTH {
            return Err(SpecError::Syntax(format!(
                "brackets nest deeper than {MAX_FLOW_DEPTH} levels"
            )));
        }
        // Parse to a generic tree first: the YAML parser bounds nesting depth and alias
        // expansion, so hostile documents fail here, fast.
        let tree: serde_json::Value =
            serde_yaml_ng::from_str(text).map_err(|e| SpecError::Syntax(e.to_string()))?;
        Self::from_value(tree)
    }

    /// Validates an already-parsed JSON value (for example an API request body).
    pub fn from_value(tree: serde_json::Value) -> Result<Self, SpecError> {
        if !tree.is_object() {
            return Err(SpecError::Invalid(vec![FieldError::new(
                "(document)",
                "must be a mapping with apiVersion, kind, metadata and spec",
            )]));
        }
        // serde stops at the first type error. To report them all at once, each offending
        // value is replaced by one of the expected type (or taken out) and the rest parsed
        // again, until nothing is wrong but what that itself caused.
        let mut tree = tree;
        let mut errors: Vec<FieldError> = Vec::new();
        let mut fixed: Vec<String> = Vec::new();
        for _ in 0..MAX_TYPE_ERRORS {
            let mut unknown = Vec::new();
            let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(render_path(&path));
            let parsed = serde_path_to_error::deserialize::<_, Environment>(
                serde_ignored::Deserializer::new(tree.clone(), &mut on_unknown),
            );
            for path in unknown {
                if !errors.iter().any(|e| e.path == path) {
                    errors.push(FieldError::new(path, "unknown field"));
                }
            }
            let e = match parsed {
                Ok(environment) => {
                    // Rules are checked on the document as written, not on what is left.
                    if fixed.is_empty() {
                        errors.extend(crate::validate::validate(&environment));
                    }
                    return if errors.is_empty() {
                        Ok(environment)
                    } else {
                        Err(SpecError::Invalid(errors))
                    };
                }
                Err(e) => e,
            };
            let path = match e.path().to_string() {
                p if p == "." => "(document)".to_owned(),
                p => p,
            };
            let message = e.inner().to_string();
            // A field missing because an earlier error took it out is no news.
            let caused = fixed.iter().any(|r| {
                message.strip_prefix("missing field `").is_some_and(|m| {
                    let field = m.trim_end_matches('`');
                    *r == if path == "(document)" {
                        field.to_owned()
                    } else {
                        format!("{path}.{field}")
                    }
                })
            });
            if caused {
                break;
            }
            if fixed.contains(&path) {
                break;
            }
            let stand_in = stand_in_for(&message);
            errors.push(FieldError::new(path.clone(), message));
            if !replace(&mut tree, e.path(), stand_in) {
                break;
            }
            fixed.push(path);
        }
        Err(SpecError::Invalid(errors))
    }
}

/// Deeper than any spec needs (a spec nests about six levels).
const MAX_FLOW_DEPTH: usize = 64;

/// The deepest nesting of `[`/`{` outside quoted strings.
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut quote) = (0usize, 0usize, None);
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Renders serde_ignored's path as `a.b[0].c`, the same form serde_path_to_error uses.
/// A map key as a field path shows it: as it is, or quoted when a path could not show it
/// (empty, or with a dot or a space in it).
pub fn path_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        key.to_owned()
    } else {
        serde_json::Value::String(key.to_owned()).to_string()
    }
}

/// How many type errors one document reports at most.
const MAX_TYPE_ERRORS: usize = 32;
/// A value of the type a serde error says it expected, to parse on past it (never
/// validated: a document with a type error is refused whatever else it holds).
fn stand_in_for(message: &str) -> Option<serde_json::Value> {
    let expected = message.split("expected ").nth(1)?;
    let number = ["u8", "u16", "u32", "u64", "i32", "i64", "f64"]
        .iter()
        .any(|t| expected.starts_with(t));
    if number {
        Some(serde_json::json!(0))
    } else if expected.starts_with("a string") || expected.starts_with("string") {
        Some(serde_json::json!(""))
    } else if expected.starts_with("a boolean") {
        Some(serde_json::json!(false))
    } else if expected.starts_with("a sequence") {
        Some(serde_json::json!([]))
    } else {
        None
    }
}

/// Puts `with` (or, without one, nothing) at `path` in `tree`; false when it cannot.
fn replace(
    tree: &mut serde_json::Value,
    path: &serde_path_to_error::Path,
    with: Option<serde_json::Value>,
) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = tree;
    for segment in parents {
        node = match (segment, node) {
            (Segment::Map { key }, serde_json::Value::Object(map)) => match map.get_mut(key) {
                Some(next) => next,
                None => return false,
            },
            (Segment::Seq { index }, serde_json::Value::Array(items)) => {
                match items.get_mut(*index) {
                    Some(next) => next,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match (last, node, with) {
        (Segment::Map { key }, serde_json::Value::Object(map), Some(value)) => {
            map.insert(key.clone(), value).is_some()
        }
        (Segment::Map { key }, serde_json::Value::Object(map), None) => map.remove(key).is_some(),
        (Segment::Seq { index }, serde_json::Value::Array(items), Some(value))
            if *index < items.len() =>
        {
            items[*index] = value;
            true
        }
        // An element cannot go without shifting its siblings' paths.
        _ => false,
    }
}

fn render_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        Path::Map { parent, key } => {
            let parent = render_path(parent);
            let key = path_key(key);
            if parent.is_empty() {
                key
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => render_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_depth_counts_brackets_outside_quotes() {
        assert_eq!(flow_depth("a: [1, {b: [2]}]"), 3);
        assert_eq!(flow_depth("a: \"[[[[\"\nb: '{{{{'\nc: [x]"), 1);
        let deep = "[".repeat(MAX_FLOW_DEPTH + 1);
        assert!(
            matches!(Environment::parse(&deep), Err(SpecError::Syntax(m)) if m.contains("nest deeper"))
        );
    }
}
