//! The cluster simulator's authentication, as EKS does it: a `k8s-aws-v1.` token whose
//! presigned GetCallerIdentity URL is signed for this cluster with the stack's credentials.

use std::time::{Duration, SystemTime};

use super::ClusterSimulator;
use super::server::{decode, query_value};

impl ClusterSimulator {
    /// EKS's check: the token is a presigned GetCallerIdentity for this cluster, unexpired,
    /// signed with the local stack's credentials. Answers the region it was signed for.
    pub(crate) fn authenticate(
        &self,
        token: Option<&str>,
        cluster: &str,
    ) -> Result<String, String> {
        let token = token.ok_or("no bearer token")?;
        let url = strata_kubernetes::token::decode(token).ok_or("not a k8s-aws-v1 token")?;
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let param = |name| query_value(query, name).map(decode);
        if param("Action").as_deref() != Some("GetCallerIdentity") {
            return Err("the token is not a GetCallerIdentity request".into());
        }
        let credential = param("X-Amz-Credential").ok_or("unsigned token")?;
        let region = credential
            .split('/')
            .nth(2)
            .ok_or("bad credential scope")?
            .to_owned();
        let signed_at = param("X-Amz-Date")
            .as_deref()
            .and_then(parse_amz_date)
            .ok_or("bad X-Amz-Date")?;
        let expires: u64 = param("X-Amz-Expires")
            .and_then(|e| e.parse().ok())
            .ok_or("bad X-Amz-Expires")?;
        if SystemTime::now() > signed_at + Duration::from_secs(expires) {
            return Err("the token has expired".into());
        }
        let credentials = aws_credential_types::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "local-stack",
        );
        let expected =
            strata_kubernetes::token::presigned_url(&credentials, &region, cluster, signed_at)
                .map_err(|e| e.to_string())?;
        if expected != url {
            return Err(format!("the token is not signed for cluster {cluster}"));
        }
        Ok(region)
    }
}

/// `20261122T085100Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
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
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse() {
        assert_eq!(
            parse_amz_date("19700102T000001Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(86_401))
        );
        assert_eq!(
            parse_amz_date("20261122T085100Z")
                .unwrap()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_795_337_460
        );
    }
}
