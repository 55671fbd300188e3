//! Which secrets a spec may name. The Kubernetes steps copy a `secretArn` variable's value
//! into the environment's namespace, so a caller who could name any secret could read any:
//! the operator allows one name prefix (the template's `SecretNamePrefix`), in this
//! account, in the environment's own region. The template grants `GetSecretValue` on
//! exactly that (and on the RDS-managed secrets of Strata's own databases, which no spec
//! names), and the API refuses anything else before it is stored.

use crate::spec::{Environment, FieldError};

/// The secrets specs may reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSources {
    /// The control plane's account.
    pub account: String,
    /// Every referenced secret's name starts with this (`strata/` by default).
    pub name_prefix: String,
}

impl SecretSources {
    /// Every `secretArn` of the spec outside what is allowed, each by its field path and
    /// naming the variable.
    pub fn check(&self, env: &Environment) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (i, service) in env.spec.app.services.iter().enumerate() {
            for (j, var) in service.env.iter().enumerate() {
                let Some(arn) = var.secret_arn.as_deref() else {
                    continue;
                };
                if let Err(why) = self.allows(arn, &env.spec.region, env.team()) {
                    errors.push(FieldError::new(
                        format!("spec.app.services[{i}].env[{j}].secretArn"),
                        format!("{} of service {}: {why}", var.name, service.name),
                    ));
                }
            }
        }
        errors
    }

    /// The prefix an environment of `team` reads secrets under: `<prefix><team>/`, or the
    /// whole prefix for an environment without a team (only an admin makes one).
    pub fn prefix_of(&self, team: Option<&str>) -> String {
        match team {
            Some(team) => format!("{}{team}/", self.name_prefix),
            None => self.name_prefix.clone(),
        }
    }

    fn allows(&self, arn: &str, region: &str, team: Option<&str>) -> Result<(), String> {
        // arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME[#key]
        let arn = arn.split('#').next().unwrap_or(arn);
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        let [_, _, _, in_region, in_account, _, name] = parts.as_slice() else {
            return Err("is not a Secrets Manager secret ARN".into());
        };
        if *in_account != self.account {
            return Err(format!(
                "the secret is in account {in_account}; only this control plane's account \
                 {} is allowed",
                self.account
            ));
        }
        if *in_region != region {
            return Err(format!(
                "the secret is in {in_region}; only the environment's region {region} is allowed"
            ));
        }
        let prefix = self.prefix_of(team);
        if !name.starts_with(&prefix) {
            let whose = match team {
                Some(team) => format!("team {team}'s prefix"),
                None => "the prefix the operator allows (the control plane's SecretNamePrefix)"
                    .to_owned(),
            };
            return Err(format!("the secret {name} is outside {whose} {prefix:?}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> SecretSources {
        SecretSources {
            account: "123456789012".into(),
            name_prefix: "strata/".into(),
        }
    }

    fn refused(arn: &str) -> Option<String> {
        sources().allows(arn, "eu-west-1", None).err()
    }

    #[test]
    fn only_this_account_this_region_and_the_prefix_are_allowed() {
        let ok = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:strata/shop/payments-AbCdEf";
        assert_eq!(refused(ok), None);
        assert_eq!(refused(&format!("{ok}#apiKey")), None);
        let other_account = "arn:aws:secretsmanager:eu-west-1:999999999999:secret:strata/x-1";
        assert!(
            refused(other_account)
                .unwrap()
                .contains("account 999999999999")
        );
        let other_region = "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/x-1";
        assert!(refused(other_region).unwrap().contains("us-east-1"));
        // Another environment's RDS master secret: never nameable by a spec.
        let rds = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-abc";
        assert!(refused(rds).unwrap().contains("outside the prefix"));
    }

    #[test]
    fn an_environment_of_a_team_reads_only_its_team_s_secrets() {
        let arn =
            |name: &str| format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:{name}");
        let allows = |name: &str, team| sources().allows(&arn(name), "eu-west-1", team);
        assert_eq!(
            allows("strata/payments/stripe-AbCdEf", Some("payments")),
            Ok(())
        );
        let other = allows("strata/shop/db-AbCdEf", Some("payments")).unwrap_err();
        assert!(
            other.contains("team payments's prefix \"strata/payments/\""),
            "{other}"
        );
        // A team name that is a prefix of another's is no way into it.
        assert!(allows("strata/payments-eu/x-AbCdEf", Some("payments")).is_err());
        // Without a team (an admin's environment): the whole prefix.
        assert_eq!(allows("strata/shop/db-AbCdEf", None), Ok(()));
    }
}
