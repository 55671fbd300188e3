//! The database component: an RDS instance `strata-<env>` in the network's private subnets
//! (subnet group `strata-<env>`), behind the network's database security group, encrypted,
//! with deletion protection while the environment lives and a master password that RDS
//! keeps in Secrets Manager (`ManageMasterUserPassword`): Strata only ever holds the
//! secret's ARN, which is the credential reference in the status.
//!
//! `apply` creates what is absent (restoring from this environment's newest final snapshot
//! when there is one of the same engine, so `down` then `up` keeps the data; or from the one
//! `restoreFrom` names, which must be recorded and usable), waits while
//! RDS works, and modifies in place what the spec changed (class, storage, engine version,
//! multi-AZ, backups, deletion protection). `destroy` honours `onDelete`: `snapshot` (the
//! default) takes a final snapshot named from the environment, the generation and the
//! operation's start, `retain` leaves the instance running and protected, `delete` drops it
//! without a snapshot. A same-named instance, subnet group or snapshot without this
//! environment's tags is never touched (`ResourceNotOwned`).

use aws_sdk_rds::Client;
use strata_component::clients::{FromConfig, Regional};
use strata_core::Component;

pub use resources::{final_snapshot_name, instance_name};

// What the unit tests reach through `use super::*`.
#[cfg(test)]
use crate::resources::rds_tags;
#[cfg(test)]
use aws_sdk_rds::types::{DbInstance, Tag};
#[cfg(test)]
use strata_core::drift::{FieldDrift, Observed};
#[cfg(test)]
use strata_core::status::ComponentPhase;
#[cfg(test)]
use strata_core::tags;

mod apply;
mod create;
mod destroy;
mod observe;
mod resources;
mod seed;
mod settings;
mod subnet_group;

/// The database handler; `clients` makes an RDS client for the environment's region.
pub struct Database<C> {
    pub clients: C,
}

impl Database<FromConfig<Client>> {
    /// The deployed handler, its clients made from the function's SDK config.
    pub fn new(config: aws_config::SdkConfig) -> Self {
        Self {
            clients: FromConfig::new(config, Client::new),
        }
    }
}

strata_component::handler_from_steps!(
    Component::Database,
    impl<C: Regional<Client>> for Database<C>
);

#[cfg(test)]
mod tests;
