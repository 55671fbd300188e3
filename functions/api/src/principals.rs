//! Who called: the IAM principal API Gateway's authorizer identified, with its team and
//! admin tags ([`strata_core::teams`]). The authorizer hands the function the caller's ARN,
//! not its tags, so they are read from IAM (`ListRoleTags` for an assumed role,
//! `ListUserTags` for a user) and kept for a minute: a tag change takes effect within one.
//! Session tags are not seen: the role's own tags are what count.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a principal's tags are kept.
const KEEP_TAGS: Duration = Duration::from_secs(60);

/// The IAM entity whose tags say what a caller may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entity {
    Role(String),
    User(String),
}

impl Entity {
    /// The role or user behind `arn`, when it is one of `account`'s: an assumed role
    /// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) or a user
    /// (`arn:aws:iam::ACCOUNT:user/PATH/NAME`). Anything else (the root user, a federated
    /// user, another account's principal) carries no tags Strata reads.
    pub fn of(arn: &str, account: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", _, service, "", in_account, resource] = parts.as_slice() else {
            return None;
        };
        if *in_account != account {
            return None;
        }
        match (*service, resource.split_once('/')) {
            ("sts", Some(("assumed-role", rest))) => {
                let role = rest.split('/').next().filter(|r| !r.is_empty())?;
                Some(Entity::Role(role.to_owned()))
            }
            ("iam", Some(("user", rest))) => {
                let name = rest.rsplit('/').next().filter(|n| !n.is_empty())?;
                Some(Entity::User(name.to_owned()))
            }
            _ => None,
        }
    }
}

pub type TagsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<BTreeMap<String, String>, String>> + Send + 'a>>;

/// Where a principal's tags come from.
pub trait PrincipalTags: Send + Sync {
    fn tags<'a>(&'a self, entity: &'a Entity) -> TagsFuture<'a>;
}

/// Nobody carries tags: only the local stack's own user (an admin) may act.
pub struct NoTags;

impl PrincipalTags for NoTags {
    fn tags<'a>(&'a self, _: &'a Entity) -> TagsFuture<'a> {
        Box::pin(async { Ok(BTreeMap::new()) })
    }
}

/// Tags by the time they were read.
type Kept = HashMap<Entity, (Instant, BTreeMap<String, String>)>;

/// The tags IAM holds, kept for [`KEEP_TAGS`].
pub struct IamTags {
    iam: aws_sdk_iam::Client,
    kept: Mutex<Kept>,
}

impl IamTags {
    pub fn new(iam: aws_sdk_iam::Client) -> Self {
        Self {
            iam,
            kept: Mutex::new(HashMap::new()),
        }
    }

    async fn read(&self, entity: &Entity) -> Result<BTreeMap<String, String>, String> {
        // A role or user holds at most 50 tags: one page.
        let tags = match entity {
            Entity::Role(name) => self
                .iam
                .list_role_tags()
                .role_name(name)
                .send()
                .await
                .map(|o| o.tags)
                .map_err(|e| {
                    format!(
                        "reading the tags of role {name}: {}",
                        e.into_service_error()
                    )
                })?,
            Entity::User(name) => self
                .iam
                .list_user_tags()
                .user_name(name)
                .send()
                .await
                .map(|o| o.tags)
                .map_err(|e| {
                    format!(
                        "reading the tags of user {name}: {}",
                        e.into_service_error()
                    )
                })?,
        };
        Ok(tags.into_iter().map(|t| (t.key, t.value)).collect())
    }
}

impl PrincipalTags for IamTags {
    fn tags<'a>(&'a self, entity: &'a Entity) -> TagsFuture<'a> {
        Box::pin(async move {
            let now = Instant::now();
            if let Some((at, tags)) = self.kept.lock().expect("tags cache").get(entity)
                && now.duration_since(*at) < KEEP_TAGS
            {
                return Ok(tags.clone());
            }
            let tags = self.read(entity).await?;
            self.kept
                .lock()
                .expect("tags cache")
                .insert(entity.clone(), (now, tags.clone()));
            Ok(tags)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Entity;

    #[test]
    fn the_role_or_user_of_this_account_behind_an_arn() {
        let of = |arn| Entity::of(arn, "123456789012");
        assert_eq!(
            of("arn:aws:sts::123456789012:assumed-role/payments-dev/alice@example.com"),
            Some(Entity::Role("payments-dev".into()))
        );
        assert_eq!(
            of("arn:aws:iam::123456789012:user/teams/payments/bob"),
            Some(Entity::User("bob".into()))
        );
        assert_eq!(of("arn:aws:iam::123456789012:root"), None);
        assert_eq!(of("arn:aws:sts::123456789012:federated-user/carol"), None);
        // Another account's role is not looked up in this one.
        assert_eq!(
            of("arn:aws:sts::999999999999:assumed-role/payments-dev/alice"),
            None
        );
        assert_eq!(of("arn:aws:sts::123456789012:assumed-role/"), None);
    }
}
