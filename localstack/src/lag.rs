//! EC2's eventual consistency, which moto does not have: on AWS a VPC, subnet, security
//! group, route table or internet gateway that `Create*` just answered may be unknown to the
//! next calls for a moment ("If you successfully run the Create command, but get a NotFound
//! error in a later command, wait and retry": the EC2 API reference). With a lag of `n`, the
//! router answers the first `n` EC2 requests naming each new id with that id's `*.NotFound`.
//! Off (0) unless a test sets it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

use crate::fidelity::{Fault, element};

/// The ids a `Create*` answer names, with the code EC2 gives for each kind while unknown.
const KINDS: [(&str, &str, &str); 5] = [
    ("vpcId", "vpc-", "InvalidVpcID.NotFound"),
    ("subnetId", "subnet-", "InvalidSubnetID.NotFound"),
    ("groupId", "sg-", "InvalidGroup.NotFound"),
    ("routeTableId", "rtb-", "InvalidRouteTableID.NotFound"),
    (
        "internetGatewayId",
        "igw-",
        "InvalidInternetGatewayID.NotFound",
    ),
];

#[derive(Default)]
pub struct Lag {
    calls: AtomicU32,
    /// Each new id and how many more requests naming it are answered NotFound.
    fresh: Mutex<HashMap<String, u32>>,
    given: AtomicU32,
}

/// `Action=…` of an EC2 request (its `Version` is EC2's).
fn ec2_action(body: &str) -> Option<&str> {
    if !body.split('&').any(|p| p == "Version=2016-11-15") {
        return None;
    }
    body.split('&').find_map(|p| p.strip_prefix("Action="))
}

impl Lag {
    /// From now on, each id a `Create*` makes is unknown to the next `calls` requests.
    pub fn set(&self, calls: u32) {
        self.calls.store(calls, Ordering::SeqCst);
    }

    /// How many NotFound answers the lag gave.
    pub fn given(&self) -> u32 {
        self.given.load(Ordering::SeqCst)
    }

    fn on(&self) -> bool {
        self.calls.load(Ordering::SeqCst) > 0
    }

    /// Whether the request is a `Create*` whose answer should be read for new ids.
    pub fn watches(&self, body: &[u8]) -> bool {
        self.on()
            && ec2_action(&String::from_utf8_lossy(body)).is_some_and(|a| a.starts_with("Create"))
    }

    /// The NotFound answer for an EC2 request naming an id not yet "known".
    pub fn refuse(&self, body: &[u8]) -> Option<Response<Full<Bytes>>> {
        if !self.on() {
            return None;
        }
        let body = String::from_utf8_lossy(body);
        let action = ec2_action(&body)?;
        let mut fresh = self.fresh.lock().unwrap_or_else(|e| e.into_inner());
        let named = fresh.iter_mut().find(|(id, left)| {
            **left > 0
                && body
                    .split('&')
                    .any(|p| p.split_once('=').is_some_and(|(_, v)| v == id.as_str()))
        })?;
        *named.1 -= 1;
        let id = named.0.clone();
        let code = KINDS
            .iter()
            .find(|(_, prefix, _)| id.starts_with(prefix))
            .map_or("InvalidID.NotFound", |(_, _, code)| code);
        self.given.fetch_add(1, Ordering::SeqCst);
        Some(Fault::ec2(action, "", 400, code).response_with(&format!(
            "The ID '{id}' does not exist (eventual consistency, local stack)"
        )))
    }

    /// Reads a `Create*` answer for the ids it made.
    pub fn record(&self, answer: &str) {
        let calls = self.calls.load(Ordering::SeqCst);
        if calls == 0 {
            return;
        }
        let mut fresh = self.fresh.lock().unwrap_or_else(|e| e.into_inner());
        for (tag, prefix, _) in KINDS {
            if let Some(id) = element(answer, tag).filter(|id| id.starts_with(prefix)) {
                fresh.entry(id).or_insert(calls);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIBE: &str = "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-0abc";

    #[test]
    fn a_new_id_is_unknown_to_the_next_calls_and_then_known() {
        let lag = Lag::default();
        lag.record("<CreateVpcResponse><vpc><vpcId>vpc-0abc</vpcId></vpc></CreateVpcResponse>");
        assert!(lag.refuse(DESCRIBE.as_bytes()).is_none(), "off until set");
        lag.set(2);
        lag.record("<CreateVpcResponse><vpc><vpcId>vpc-0abc</vpcId></vpc></CreateVpcResponse>");
        assert!(lag.watches(b"Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16"));
        assert!(!lag.watches(DESCRIBE.as_bytes()));
        let refused = lag.refuse(DESCRIBE.as_bytes()).expect("unknown at first");
        assert_eq!(refused.status(), 400);
        assert_eq!(
            refused.headers()["x-amzn-ErrorType"],
            "InvalidVpcID.NotFound"
        );
        assert!(lag.refuse(DESCRIBE.as_bytes()).is_some());
        assert!(
            lag.refuse(DESCRIBE.as_bytes()).is_none(),
            "known after two calls"
        );
        assert_eq!(lag.given(), 2);
        // An id only sharing a prefix is another resource.
        assert!(
            lag.refuse(b"Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-0abcd")
                .is_none()
        );
    }
}
