//! Image versions: each service's repository listed once per run, and the newest tag within
//! its constraint compared with the version serving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use strata_core::versions::{is_newer, newest_satisfying};
use strata_core::{EnvironmentState, ImageUpdate};
use strata_store::Store;

use crate::due::Visit;
use crate::{Flows, Inventory, Notifier, Observer, RegistryError, Syncer, TagSource};

/// The tags of each repository, listed once per run however many environments use it (and
/// by one of them at a time: the others wait for that listing).
#[derive(Default)]
pub struct TagCache {
    listed: Mutex<HashMap<String, Arc<Listing>>>,
}

/// One repository's listing, made once.
type Listing = tokio::sync::OnceCell<Result<Vec<String>, RegistryError>>;

impl TagCache {
    async fn tags<R: TagSource>(
        &self,
        registries: &R,
        image: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let cell = self
            .listed
            .lock()
            .expect("not poisoned")
            .entry(image.to_owned())
            .or_default()
            .clone();
        cell.get_or_init(|| registries.tags(image)).await.clone()
    }
}

/// What a sync found of image versions.
#[derive(Debug, Default)]
pub(crate) struct ImageFindings {
    /// False when nothing was compared (not Ready, or the app never ran): what is recorded
    /// stays as it is.
    pub(crate) checked: bool,
    /// Newer versions than the ones serving, now.
    pub(crate) updates: Vec<ImageUpdate>,
    /// Those not recorded yet: announced (and under `deploy` rolled out).
    pub(crate) fresh: Vec<ImageUpdate>,
    /// Repositories that could not be listed (`service: error`).
    pub(crate) unreadable: Vec<String>,
}

impl<S: Store, F: Flows, N: Notifier, R: TagSource, O: Observer, I: Inventory>
    Syncer<S, F, N, R, O, I>
{
    /// The services of a Ready environment whose repository has a newer tag within their
    /// constraint than the one the app step recorded serving.
    pub(crate) async fn image_findings(&self, visit: Visit<'_>, tags: &TagCache) -> ImageFindings {
        let (spec, view) = (visit.spec, visit.view);
        let mut findings = ImageFindings::default();
        let (Some(app), Some(status)) = (&view.app, &view.status) else {
            return findings;
        };
        if status.value.state != EnvironmentState::Ready {
            return findings;
        }
        findings.checked = true;
        let recorded = &status.value.image_updates;
        for service in &spec.environment.spec.app.services {
            let Some(deployed) = app
                .outputs
                .get(&format!("service.{}.version", service.name))
            else {
                continue;
            };
            let listed = match tags.tags(&self.registries, &service.image).await {
                Ok(listed) => listed,
                Err(e) => {
                    // What was found before stands until the repository can be read again.
                    findings.updates.extend(
                        recorded
                            .iter()
                            .filter(|u| u.service == service.name)
                            .cloned(),
                    );
                    findings.unreadable.push(format!("{}: {e}", service.name));
                    continue;
                }
            };
            let Some(newest) =
                newest_satisfying(&service.version, listed.iter().map(String::as_str))
            else {
                continue;
            };
            if !is_newer(newest, deployed) {
                continue;
            }
            let known = recorded.iter().find(|u| {
                u.service == service.name && u.available == newest && u.deployed == *deployed
            });
            let update = ImageUpdate {
                service: service.name.clone(),
                deployed: deployed.clone(),
                available: newest.to_owned(),
                found_at: known.map_or(visit.now, |u| u.found_at),
            };
            if known.is_none() {
                findings.fresh.push(update.clone());
            }
            findings.updates.push(update);
        }
        findings
    }
}
