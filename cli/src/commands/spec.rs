//! Spec files on disk: read, size-limited and validated offline before anything is sent.

use std::io::Read;
use std::path::{Path, PathBuf};

use strata_core::Environment;

use crate::exit;

/// A spec read from disk, checked offline before anything is sent.
pub struct SpecFile {
    pub path: PathBuf,
    pub text: String,
    pub environment: Environment,
}

impl SpecFile {
    pub(crate) fn content_type(&self) -> &'static str {
        match self.path.extension().and_then(|e| e.to_str()) {
            Some("json") => "application/json",
            _ => "application/yaml",
        }
    }
}

/// Reads and validates one spec; prints every problem with its field path.
pub fn load(path: &Path) -> Result<SpecFile, u8> {
    let shown = path.display();
    let limit = strata_core::spec::MAX_DOCUMENT_BYTES;
    let opened = std::fs::File::open(path).map_err(|e| {
        eprintln!("{shown}: {e}");
        exit::USAGE
    })?;
    // Read at most one byte past the limit: a huge file is refused without being loaded.
    let mut bytes = Vec::new();
    opened
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            eprintln!("{shown}: {e}");
            exit::USAGE
        })?;
    if bytes.len() > limit {
        eprintln!("{shown}: larger than {limit} bytes; a spec is a few KiB");
        return Err(exit::ERROR);
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        eprintln!("{shown}: not UTF-8 text");
        exit::ERROR
    })?;
    let environment = Environment::parse(&text).map_err(|e| {
        for error in e.field_errors() {
            eprintln!("{shown}: {error}");
        }
        exit::ERROR
    })?;
    Ok(SpecFile {
        path: path.to_owned(),
        text,
        environment,
    })
}

pub fn validate(path: &Path) -> u8 {
    match load(path) {
        Ok(spec) => {
            println!(
                "{}: environment {} is valid",
                path.display(),
                spec.environment.name()
            );
            exit::OK
        }
        Err(code) => code,
    }
}

/// The specs a path names: the file, or every `.yaml`, `.yml` and `.json` in the directory.
pub(crate) fn spec_paths(path: &Path) -> Result<Vec<PathBuf>, u8> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        eprintln!("{}: {e}", path.display());
        exit::USAGE
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        eprintln!("{}: no .yaml, .yml or .json specs in it", path.display());
        return Err(exit::USAGE);
    }
    Ok(paths)
}
