//! Drift: the live instance read back and compared with the spec (presence, engine, the
//! settings `apply` converges, Strata's tags).

use aws_sdk_rds::Client;
use strata_component::clients::Regional;
use strata_component::{ComponentError, Step};
use strata_core::Component;
use strata_core::drift::{FieldDrift, Observed};
use strata_core::tags;

use crate::Database;
use crate::resources::{describe_instance, engine_name, instance_name};
use crate::settings::differences;

impl<C: Regional<Client>> Database<C> {
    /// The instance's presence, engine, the settings `apply` converges and its tags.
    pub(crate) async fn observe_step(&self, step: &Step<'_>) -> Result<Observed, ComponentError> {
        let env = step.environment;
        let Some(spec) = &env.spec.database else {
            return Ok(Observed::InSync);
        };
        let client = self.clients.client(&env.spec.region);
        let id = instance_name(env.name());
        let Some(instance) = describe_instance(&client, &id).await? else {
            return Ok(Observed::Missing {
                resources: vec![format!("db instance {id}")],
            });
        };
        let path = |field: &str| format!("db instance {id}/{field}");
        let mut fields = Vec::new();
        if instance.engine() != Some(engine_name(spec.engine)) {
            fields.push(FieldDrift::new(
                path("engine"),
                engine_name(spec.engine),
                instance.engine().unwrap_or("unset"),
            ));
        }
        for (setting, expected, observed) in differences(&instance, spec) {
            fields.push(FieldDrift::new(path(setting.field()), expected, observed));
        }
        for (key, expected) in tags::base(env.name(), Component::Database) {
            let observed = instance
                .tag_list()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
                .unwrap_or("absent");
            if observed != expected {
                fields.push(FieldDrift::new(
                    path(&format!("tags.{key}")),
                    expected,
                    observed,
                ));
            }
        }
        Ok(Observed::from_findings(Vec::new(), fields))
    }
}
