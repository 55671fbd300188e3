//! CloudFormation templates the custom component tests deploy.

/// A queue and a topic, set from the inputs `VisibilityTimeout` and `Network` (the topic's
/// display name), and the queue's name from `QueueName` when `named`; its outputs are
/// `QueueUrl` and `TopicArn`.
pub fn queue_and_topic(named: bool) -> String {
    let (parameter, property) = match named {
        true => (
            "  QueueName: { Type: String }\n",
            "      QueueName: !Ref QueueName\n",
        ),
        false => ("", ""),
    };
    format!(
        "Parameters:
  VisibilityTimeout: {{ Type: Number }}
{parameter}  Network: {{ Type: String }}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
{property}      VisibilityTimeout: !Ref VisibilityTimeout
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Ref Network
Outputs:
  QueueUrl: {{ Value: !Ref Queue }}
  TopicArn: {{ Value: !Ref Topic }}
"
    )
}
