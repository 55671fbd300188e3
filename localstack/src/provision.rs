//! What the local stack creates once its processes answer: the template's tables, event
//! buses and state machines.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

use crate::{LocalStack, LocalStackError, STACK_NAME, template};

impl LocalStack {
    pub(crate) async fn provision(&mut self) -> Result<(), LocalStackError> {
        let config = self.sdk_config();
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        for table in &self.template.tables {
            create_table(&dynamodb, &table.name, &table.properties)
                .await
                .map_err(|reason| LocalStackError::Provision {
                    what: format!("table {}", table.logical_id),
                    reason,
                })?;
        }
        let eventbridge = aws_sdk_eventbridge::Client::new(&config);
        for (id, name) in &self.template.event_buses {
            eventbridge
                .create_event_bus()
                .name(name)
                .send()
                .await
                .map_err(|e| LocalStackError::Provision {
                    what: format!("event bus {id}"),
                    reason: strata_core::error_chain(&e),
                })?;
        }
        let sfn = aws_sdk_sfn::Client::new(&config);
        for machine in &self.template.state_machines {
            let out = sfn
                .create_state_machine()
                .name(&machine.name)
                .definition(&machine.definition)
                .role_arn(format!(
                    "arn:aws:iam::{}:role/{STACK_NAME}-states",
                    template::ACCOUNT_ID
                ))
                .send()
                .await
                .map_err(|e| LocalStackError::Provision {
                    what: format!("state machine {}", machine.logical_id),
                    reason: aws_sdk_sfn::error::DisplayErrorContext(&e).to_string(),
                })?;
            self.state_machine_arns
                .insert(machine.logical_id.clone(), out.state_machine_arn);
        }
        Ok(())
    }
}

/// CreateTable from the template's CloudFormation properties.
async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    props: &serde_json::Value,
) -> Result<(), String> {
    let key_schema = |v: &serde_json::Value| -> Result<Vec<KeySchemaElement>, String> {
        v.as_array()
            .ok_or("KeySchema must be a list")?
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap_or_default())
                    .key_type(KeyType::from(k["KeyType"].as_str().unwrap_or_default()))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&props["KeySchema"])?));
    for a in props["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap_or_default())
                .attribute_type(ScalarAttributeType::from(
                    a["AttributeType"].as_str().unwrap_or_default(),
                ))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for g in props["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().unwrap_or_default())
                .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            g["Projection"]["ProjectionType"].as_str().unwrap_or("ALL"),
                        ))
                        .build(),
                )
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    request
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())?;
    Ok(())
}
