//! CloudFormation as AWS answers it, where moto 5.2.5 differs. Test infrastructure only.
//!
//! DescribeChangeSet of a change set that does not exist: AWS answers `ChangeSetNotFound`;
//! moto answers `ValidationError` ("Stack with id <change set> does not exist"), which reads
//! like the stack is gone.

use bytes::Bytes;

/// Whether a query-protocol request body is CloudFormation's DescribeChangeSet.
pub fn describes_change_set(parts: &hyper::http::request::Parts, body: &[u8]) -> bool {
    crate::iam::signing_name(parts).as_deref() == Some("cloudformation")
        && String::from_utf8_lossy(body)
            .split('&')
            .any(|pair| pair == "Action=DescribeChangeSet")
}

/// moto's answer for a missing change set, reworded as AWS's.
pub fn change_set_not_found(answer: &[u8]) -> Option<Bytes> {
    let text = String::from_utf8_lossy(answer);
    let missing = text.contains("<Code>ValidationError</Code>") && text.contains("does not exist");
    missing.then(|| {
        Bytes::from(
            "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
             <Error><Type>Sender</Type><Code>ChangeSetNotFound</Code>\
             <Message>ChangeSet does not exist</Message></Error>\
             <RequestId>local</RequestId></ErrorResponse>",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_change_set_is_reworded() {
        let moto = b"<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id strata-up-1 does not exist</Message></Error></ErrorResponse>";
        let aws = change_set_not_found(moto).unwrap();
        assert!(String::from_utf8_lossy(&aws).contains("<Code>ChangeSetNotFound</Code>"));
        let other = b"<ErrorResponse><Error><Code>ValidationError</Code><Message>Parameters: [X] must have values</Message></Error></ErrorResponse>";
        assert!(change_set_not_found(other).is_none());
    }
}
