//! The router's fidelity layer: AWS behaviour that moto lacks, served by the local stack so
//! the handlers run exactly as they would on AWS. Test infrastructure only.
//!
//! Here: the local stack's own calls to moto (signed for a service and region). Apart:
//! EKS access entries (`access_entries`), the tests' faults and delays (`faults`), and the
//! mends of EC2's and RDS's request handling (`requests`).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

mod access_entries;
mod faults;
mod requests;

pub use access_entries::AccessEntries;
pub use faults::{Delay, Delays, Fault, Faults};
pub use requests::{
    DependencyCheck, Query, deleted_nat_gateway, drop_kept_automated_backups, element,
    nat_gateway_token,
};

/// The region a SigV4-signed request is for (`Credential=AKID/date/<region>/eks/…`).
pub fn signed_region(authorization: Option<&str>) -> String {
    authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_owned()
}

/// The Authorization header of the local stack's own calls to moto, which reads only the
/// credential scope (region and service) from it.
fn moto_authorization(service: &str, region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0",
        crate::ACCESS_KEY
    )
}

/// `request` (its method and address set) as the local stack's own call to moto for
/// `service` in `region`, carrying `body`.
pub(crate) fn to_moto(
    request: hyper::http::request::Builder,
    service: &str,
    region: &str,
    body: impl Into<Bytes>,
) -> hyper::http::Result<Request<Full<Bytes>>> {
    request
        .header(
            hyper::header::AUTHORIZATION,
            moto_authorization(service, region),
        )
        .body(Full::new(body.into()))
}

/// A query-protocol call to moto at `moto`: `form` posted for `service` in `region`.
pub(crate) fn moto_query(
    moto: SocketAddr,
    service: &str,
    region: &str,
    form: String,
) -> Request<Full<Bytes>> {
    let post = Request::post(format!("http://{moto}/"))
        .header("content-type", "application/x-www-form-urlencoded");
    to_moto(post, service, region, form).expect("a static request is well-formed")
}

/// SigV4's signing time (`X-Amz-Date`, `20261207T201008Z`) as a time; anything of another
/// shape is none. The API's front door and the cluster simulator's token check read it.
pub(crate) fn amz_date(text: &str) -> Option<std::time::SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_time_is_read_as_utc() {
        let secs = |text| {
            amz_date(text).map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())
        };
        assert_eq!(secs("19700102T000001Z"), Some(86_401));
        assert_eq!(secs("20261122T085100Z"), Some(1_795_337_460));
        assert_eq!(secs("20261207T201008Z"), Some(1_796_674_208));
        assert_eq!(amz_date("2026-12-07T20:10:08Z"), None);
    }

    #[test]
    fn the_signed_region_is_read_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/eks/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(signed_region(Some(auth)), "eu-west-1");
        assert_eq!(signed_region(None), "us-east-1");
    }
}
