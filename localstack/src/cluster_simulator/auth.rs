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
            .and_then(crate::fidelity::amz_date)
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
