//! The AWS clients a handler calls. An environment lives in the region its spec names, so a
//! handler asks for a client per region ([`Regional`]), or for the one client of a global
//! service ([`Global`]); the deployed function makes them from its loaded SDK config
//! ([`FromConfig`]), the handlers' tests hand out one scripted client
//! (`testing::Fixed`, feature `testing`).

use aws_config::{Region, SdkConfig};

/// Makes a `C` for a region.
pub trait Regional<C>: Send + Sync {
    fn client(&self, region: &str) -> C;
}

/// Makes the `C` of a global service (Route 53), or of the function's own region.
pub trait Global<C>: Send + Sync {
    fn client(&self) -> C;
}

/// `config` in `region`: every other setting (credentials, endpoint, retries) kept.
pub fn in_region(config: &SdkConfig, region: &str) -> SdkConfig {
    config
        .to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

/// Clients made from the function's loaded SDK config by `new`, the SDK's `Client::new` or a
/// function of the same shape: `FromConfig::new(config, aws_sdk_rds::Client::new)`.
pub struct FromConfig<C> {
    config: SdkConfig,
    new: fn(&SdkConfig) -> C,
}

impl<C> FromConfig<C> {
    pub fn new(config: SdkConfig, new: fn(&SdkConfig) -> C) -> Self {
        Self { config, new }
    }
}

impl<C> Regional<C> for FromConfig<C> {
    fn client(&self, region: &str) -> C {
        (self.new)(&in_region(&self.config, region))
    }
}

impl<C> Global<C> for FromConfig<C> {
    fn client(&self) -> C {
        (self.new)(&self.config)
    }
}
