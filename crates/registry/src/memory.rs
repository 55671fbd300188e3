//! The in-memory [`TagSource`] for the handlers' tests: compiled for this crate's tests and
//! behind the feature `testing`, which other crates' dev-dependencies turn on, so no shipped
//! function links it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{RegistryError, TagSource};

/// An in-memory [`TagSource`] for handler tests: tags per image (an unknown image is
/// `NotFound`), and how many times each was listed.
#[derive(Debug, Default)]
pub struct MemoryTags {
    tags: Mutex<HashMap<String, Result<Vec<String>, RegistryError>>>,
    listings: Mutex<HashMap<String, u32>>,
}

impl MemoryTags {
    pub fn set(&self, image: &str, tags: &[&str]) {
        let tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self.tags
            .lock()
            .expect("not poisoned")
            .insert(image.to_owned(), Ok(tags));
    }

    /// Makes listing `image` fail with `error`.
    pub fn fail(&self, image: &str, error: RegistryError) {
        self.tags
            .lock()
            .expect("not poisoned")
            .insert(image.to_owned(), Err(error));
    }

    pub fn listings(&self, image: &str) -> u32 {
        let listings = self.listings.lock().expect("not poisoned");
        listings.get(image).copied().unwrap_or(0)
    }
}

impl TagSource for MemoryTags {
    async fn tags(&self, image: &str) -> Result<Vec<String>, RegistryError> {
        *self
            .listings
            .lock()
            .expect("not poisoned")
            .entry(image.to_owned())
            .or_default() += 1;
        self.tags
            .lock()
            .expect("not poisoned")
            .get(image)
            .cloned()
            .unwrap_or_else(|| {
                Err(RegistryError::NotFound(format!(
                    "{image}: no such repository"
                )))
            })
    }
}
