//! The dns component: the spec's name (`spec.dns.name`) in its hosted zone (`spec.dns.zone`)
//! pointing at the app's public load balancer — an alias A record when the app reports the
//! load balancer's canonical zone (`loadBalancerZoneId`), else a CNAME — and a TXT record
//! `_strata-owner.<name>` saying which environment owns it (Route 53 records carry no tags;
//! the marker sits on its own name because a CNAME allows no sibling records).
//!
//! `apply` UPSERTs both in one change batch, then polls GetChange until INSYNC. A record at
//! the name without this environment's marker is never touched (`ResourceNotOwned`).
//! `destroy` deletes exactly the two records it owns. The hosted zone is shared
//! infrastructure: Strata never creates or deletes it.

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};
use strata_component::aws::classify;
use strata_component::clients::{FromConfig, Global};
use strata_component::{ComponentError, ComponentHandler, Progress, Step};
use strata_core::drift::{FieldDrift, Observed};
use strata_core::status::ComponentPhase;
use strata_core::tags::{self, Owner};
use strata_core::{Awaited, Component, Environment};

/// The dns handler; `clients` makes the Route 53 client (a global service).
pub struct Dns<C> {
    pub clients: C,
}

impl Dns<FromConfig<Client>> {
    /// The deployed handler, its client made from the function's SDK config.
    pub fn new(config: aws_config::SdkConfig) -> Self {
        Self {
            clients: FromConfig::new(config, Client::new),
        }
    }
}

/// A name as Route 53 writes it: lower case, with the root's dot.
fn fqdn(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    format!("{name}.")
}

fn owner_name(name: &str) -> String {
    fqdn(&format!("_strata-owner.{}", name.trim_end_matches('.')))
}

/// The marker's value: the owner's name and incarnation, one quoted TXT string each (a
/// string holds at most 255 characters; a stack id alone may take 240). The marker's own
/// name says the rest of what a tag would: Strata's, the dns component's.
fn owner_value(environment: &Owner) -> String {
    environment
        .tags(Component::Dns)
        .into_iter()
        .filter(|(k, _)| ![tags::COMPONENT, tags::MANAGED_BY].contains(k))
        .map(|(k, v)| format!("\"{k}={v}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whose the marker says the name is: `Ok` for this owner, or why not. A marker written
/// before incarnations names the environment only, and is still its.
fn check_marker(marker: Option<&ResourceRecordSet>, environment: &Owner) -> Result<(), String> {
    let marker = marker.ok_or_else(|| format!("no {} marker", tags::ENVIRONMENT))?;
    let mut why = String::from("an empty marker");
    for record in marker.resource_records() {
        let mut pairs: Vec<(&str, &str)> = record
            .value()
            .split('"')
            .filter_map(|s| s.split_once('='))
            .collect();
        pairs.extend([
            (tags::COMPONENT, Component::Dns.name()),
            (tags::MANAGED_BY, tags::MANAGER),
        ]);
        match environment.check(pairs, Component::Dns) {
            Ok(()) => return Ok(()),
            Err(e) => why = e,
        }
    }
    Err(why)
}

fn rejected(e: impl std::fmt::Display) -> ComponentError {
    ComponentError::AwsRejected(e.to_string())
}

/// The hosted zone's id, or None when it does not exist.
async fn find_zone(client: &Client, zone: &str) -> Result<Option<String>, ComponentError> {
    let wanted = fqdn(zone);
    let out = client
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .max_items(10)
        .send()
        .await
        .map_err(|e| classify(&format!("ListHostedZonesByName {zone}"), e))?;
    Ok(out
        .hosted_zones()
        .iter()
        .find(|z| fqdn(z.name()) == wanted)
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned()))
}

/// What the zone holds at our name and at our marker's name.
struct Found {
    target: Option<ResourceRecordSet>,
    owner: Option<ResourceRecordSet>,
}

async fn find_records(client: &Client, zone_id: &str, name: &str) -> Result<Found, ComponentError> {
    let mut found = Found {
        target: None,
        owner: None,
    };
    for (wanted, types) in [
        (fqdn(name), &[RrType::A, RrType::Cname][..]),
        (owner_name(name), &[RrType::Txt][..]),
    ] {
        let out = client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(&wanted)
            .max_items(10)
            .send()
            .await
            .map_err(|e| classify(&format!("ListResourceRecordSets {wanted}"), e))?;
        let record = out
            .resource_record_sets()
            .iter()
            .find(|r| fqdn(r.name()) == wanted && types.contains(r.r#type()))
            .cloned();
        if types.contains(&RrType::Txt) {
            found.owner = record;
        } else {
            found.target = record;
        }
    }
    Ok(found)
}

fn owned_by(owner: Option<&ResourceRecordSet>, environment: &Owner) -> bool {
    check_marker(owner, environment).is_ok()
}

/// The load balancer the record points at, from the app's outputs.
struct Target {
    hostname: String,
    zone_id: Option<String>,
}

fn target(step: &Step<'_>) -> Result<Target, ComponentError> {
    let app = step.outputs_of(Component::Dns, Component::App)?;
    Ok(Target {
        hostname: app.required("loadBalancerHostname")?.to_owned(),
        zone_id: app.get("loadBalancerZoneId").map(str::to_owned),
    })
}

fn desired_target(name: &str, target: &Target) -> Result<ResourceRecordSet, ComponentError> {
    let builder = ResourceRecordSet::builder().name(fqdn(name));
    match &target.zone_id {
        Some(zone) => builder
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(zone)
                    .dns_name(fqdn(&target.hostname))
                    .evaluate_target_health(true)
                    .build()
                    .map_err(rejected)?,
            )
            .build()
            .map_err(rejected),
        None => builder
            .r#type(RrType::Cname)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value(fqdn(&target.hostname))
                    .build()
                    .map_err(rejected)?,
            )
            .build()
            .map_err(rejected),
    }
}

fn desired_owner(name: &str, environment: &Owner) -> Result<ResourceRecordSet, ComponentError> {
    ResourceRecordSet::builder()
        .name(owner_name(name))
        .r#type(RrType::Txt)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value(owner_value(environment))
                .build()
                .map_err(rejected)?,
        )
        .build()
        .map_err(rejected)
}

/// Whether the record already points where it should (Route 53 normalises names).
fn points_at(record: &ResourceRecordSet, desired: &ResourceRecordSet) -> bool {
    let alias = |r: &ResourceRecordSet| {
        r.alias_target()
            .map(|a| (fqdn(a.dns_name()), a.hosted_zone_id().to_owned()))
    };
    let values = |r: &ResourceRecordSet| -> Vec<String> {
        r.resource_records()
            .iter()
            .map(|v| fqdn(v.value()))
            .collect()
    };
    record.r#type() == desired.r#type()
        && alias(record) == alias(desired)
        && values(record) == values(desired)
}

fn change(action: ChangeAction, record: ResourceRecordSet) -> Result<Change, ComponentError> {
    Change::builder()
        .action(action)
        .resource_record_set(record)
        .build()
        .map_err(rejected)
}

async fn submit(
    client: &Client,
    zone_id: &str,
    comment: String,
    changes: Vec<Change>,
) -> Result<String, ComponentError> {
    let out = client
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(
            ChangeBatch::builder()
                .comment(comment)
                .set_changes(Some(changes))
                .build()
                .map_err(rejected)?,
        )
        .send()
        .await
        .map_err(|e| classify(&format!("ChangeResourceRecordSets {zone_id}"), e))?;
    Ok(out
        .change_info()
        .map(|c| c.id().trim_start_matches("/change/").to_owned())
        .unwrap_or_default())
}

fn spec_dns(env: &Environment) -> Option<(&str, &str)> {
    env.spec
        .dns
        .as_ref()
        .map(|d| (d.zone.as_str(), d.name.as_str()))
}

fn zone_missing(zone: &str) -> ComponentError {
    ComponentError::AwsRejected(format!(
        "hosted zone {zone} does not exist; Strata uses a zone, it never creates one"
    ))
}

impl<C: Global<Client>> ComponentHandler for Dns<C> {
    fn component(&self) -> Component {
        Component::Dns
    }

    async fn apply(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let Some((zone, name)) = spec_dns(env) else {
            return Ok(Progress::finished(ComponentPhase::Deleted));
        };
        let target = target(step)?;
        let client = self.clients.client();
        let zone_id = find_zone(&client, zone)
            .await?
            .ok_or_else(|| zone_missing(zone))?;
        let found = find_records(&client, &zone_id, name).await?;
        let taken = found.target.is_some() || found.owner.is_some();
        if taken && let Err(why) = check_marker(found.owner.as_ref(), step.owner) {
            return Err(ComponentError::ResourceNotOwned(format!(
                "{} already has a record that environment {} did not make ({} marker: {why}); Strata leaves it alone",
                fqdn(name),
                env.name(),
                owner_name(name)
            )));
        }
        let desired = desired_target(name, &target)?;
        let mut progress = Progress::waiting(ComponentPhase::Updating);
        progress
            .resource_ids
            .insert("hostedZoneId".into(), zone_id.clone());
        let current = found
            .target
            .as_ref()
            .is_some_and(|r| points_at(r, &desired))
            && found.owner.as_ref().is_some_and(|o| {
                o.resource_records()
                    .iter()
                    .any(|r| r.value() == owner_value(step.owner))
            });
        if !current {
            let mut changes = vec![
                change(ChangeAction::Upsert, desired_owner(name, step.owner)?)?,
                change(ChangeAction::Upsert, desired.clone())?,
            ];
            // A CNAME and an A record cannot share a name: the old kind goes in the same batch.
            if let Some(old) = found.target.filter(|r| r.r#type() != desired.r#type()) {
                changes.insert(1, change(ChangeAction::Delete, old)?);
            }
            let id = submit(
                &client,
                &zone_id,
                format!(
                    "strata {}: {} → {}",
                    env.name(),
                    fqdn(name),
                    target.hostname
                ),
                changes,
            )
            .await?;
            progress.resource_ids.insert("changeId".into(), id);
            return Ok(progress.awaiting(Awaited::DnsChange));
        }
        // Ready once the last change we made has reached every Route 53 server.
        if let Some(id) = step
            .previous
            .and_then(|p| p.resource_ids.get("changeId"))
            .filter(|id| !id.is_empty())
        {
            let status = client
                .get_change()
                .id(id)
                .send()
                .await
                .map_err(|e| classify(&format!("GetChange {id}"), e))?;
            if status.change_info().map(|c| c.status()) != Some(&ChangeStatus::Insync) {
                return Ok(progress.awaiting(Awaited::DnsChange));
            }
        }
        let mut ready = Progress::finished(ComponentPhase::Ready);
        ready.resource_ids = progress.resource_ids;
        ready
            .outputs
            .insert("name".into(), fqdn(name).trim_end_matches('.').to_owned());
        ready.outputs.insert("target".into(), target.hostname);
        ready.outputs.insert(
            "url".into(),
            // The app's load balancer listens on plain HTTP: Strata manages no certificates.
            format!("http://{}", fqdn(name).trim_end_matches('.')),
        );
        Ok(ready)
    }

    /// The record at the name, where it points, and the ownership marker.
    async fn observe(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let env = step.environment;
        let Some((zone, name)) = spec_dns(env) else {
            return Ok(Observed::InSync);
        };
        let target = target(step)?;
        let client = self.clients.client();
        let Some(zone_id) = find_zone(&client, zone).await? else {
            return Ok(Observed::Missing {
                resources: vec![format!("hosted zone {zone}")],
            });
        };
        let found = find_records(&client, &zone_id, name).await?;
        let desired = desired_target(name, &target)?;
        let mut missing = Vec::new();
        let mut fields = Vec::new();
        let describe = |r: &ResourceRecordSet| match r.alias_target() {
            Some(alias) => format!("{} alias {}", r.r#type().as_str(), fqdn(alias.dns_name())),
            None => format!(
                "{} {}",
                r.r#type().as_str(),
                r.resource_records()
                    .iter()
                    .map(|v| v.value())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        match &found.target {
            None => missing.push(format!("record {}", fqdn(name))),
            Some(record) if !points_at(record, &desired) => fields.push(FieldDrift::new(
                format!("record {}", fqdn(name)),
                describe(&desired),
                describe(record),
            )),
            Some(_) => {}
        }
        if !owned_by(found.owner.as_ref(), step.owner) {
            missing.push(format!("record {} (TXT owner marker)", owner_name(name)));
        }
        Ok(Observed::from_findings(missing, fields))
    }

    async fn destroy(&self, step: &Step<'_>) -> Result<Progress, ComponentError> {
        let env = step.environment;
        let gone = Progress::finished(ComponentPhase::Deleted);
        let Some((zone, name)) = spec_dns(env) else {
            return Ok(gone);
        };
        let client = self.clients.client();
        let Some(zone_id) = find_zone(&client, zone).await? else {
            return Ok(gone);
        };
        let found = find_records(&client, &zone_id, name).await?;
        if !owned_by(found.owner.as_ref(), step.owner) {
            if found.target.is_some() {
                return Err(ComponentError::ResourceNotOwned(format!(
                    "{} has a record without environment {}'s marker; Strata leaves it alone",
                    fqdn(name),
                    env.name()
                )));
            }
            return Ok(gone);
        }
        // DELETE must name the records exactly as they are.
        let changes = found
            .target
            .into_iter()
            .chain(found.owner)
            .map(|r| change(ChangeAction::Delete, r))
            .collect::<Result<Vec<_>, _>>()?;
        submit(
            &client,
            &zone_id,
            format!("strata {}: down", env.name()),
            changes,
        )
        .await?;
        Ok(gone)
    }
}

#[cfg(test)]
mod tests;
