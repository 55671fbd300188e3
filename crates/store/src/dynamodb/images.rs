//! The image index on DynamoDB: one `IMAGE#<image>` item per environment using it.

use super::{DynamoStore, aws};
use crate::codec::{Item, get_s, s};
use crate::keys::pk;
use crate::{ImageIndexStore, Result, StoreError};

/// The index item that points `image` at environment `name`.
pub(super) fn image_key(image: &str, name: &str) -> Item {
    Item::from([
        ("pk".to_owned(), s(format!("IMAGE#{image}"))),
        ("sk".to_owned(), pk(name)),
    ])
}

impl ImageIndexStore for DynamoStore {
    async fn index_images(&self, name: &str, images: &[&str], dropped: &[&str]) -> Result<()> {
        let key = |image: &str| image_key(image, name);
        for image in images {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(key(image)))
                .send()
                .await
                .map_err(aws)?;
        }
        for image in dropped {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(image)))
                .send()
                .await
                .map_err(aws)?;
        }
        Ok(())
    }

    async fn environments_using(&self, image: &str) -> Result<Vec<String>> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :image")
            .expression_attribute_values(":image", s(format!("IMAGE#{image}")))
            .into_paginator()
            .items()
            .send();
        let mut names = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(aws)?;
            let sk = get_s(&item, "sk", image)?;
            let name = sk.strip_prefix("ENV#").ok_or_else(|| StoreError::Corrupt {
                item: format!("IMAGE#{image}"),
                reason: format!("sk {sk} is not ENV#<name>"),
            })?;
            names.push(name.to_owned());
        }
        Ok(names)
    }
}
