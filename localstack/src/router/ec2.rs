//! EC2 as AWS does it where moto does not: CreateNatGateway's idempotency, DeleteNatGateway
//! taking its address and interface along, DeleteVpc/DeleteSubnet's DependencyViolation.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;

use super::Router;
use crate::fidelity::{DependencyCheck, element};

impl Router {
    /// One EC2 query-protocol call to moto, signed for `region` (moto reads the scope only).
    async fn ec2_query(&self, region: &str, form: String) -> Option<String> {
        self.moto_query("ec2", region, form).await
    }

    /// DeleteNatGateway as on AWS: the gateway's network interface goes with it (moto keeps
    /// it, and it would then block DeleteSubnet).
    /// CreateNatGateway with AWS's idempotency: the first answer for a token is kept and
    /// given again for a repeat (a retry after a lost response), which moto would answer
    /// with a second gateway.
    pub(crate) async fn create_nat_gateway(
        &self,
        token: String,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let answered = |bytes: &Bytes| {
            Response::builder()
                .header("content-type", "text/xml")
                .body(Full::new(bytes.clone()))
                .expect("static headers are valid")
        };
        if let Some(first) = self
            .nat_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&token)
        {
            return answered(first);
        }
        let response = self.forward(self.moto, parts, body).await;
        if !response.status().is_success() {
            return response;
        }
        let (head, body) = response.into_parts();
        let Ok(bytes) = body.collect().await.map(|b| b.to_bytes());
        self.nat_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, bytes.clone());
        Response::from_parts(head, Full::new(bytes))
    }

    pub(crate) async fn delete_nat_gateway(
        &self,
        nat: &str,
        region: &str,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Response<Full<Bytes>> {
        let described = self
            .ec2_query(
                region,
                format!("Action=DescribeNatGateways&Version=2016-11-15&NatGatewayId.1={nat}"),
            )
            .await
            .unwrap_or_default();
        let response = self.forward(self.moto, parts, body).await;
        // AWS frees the gateway's Elastic IP with it; moto keeps it associated, so a new
        // gateway on the same address (a wake) would be refused.
        if response.status().is_success()
            && let Some(association) = element(&described, "associationId")
        {
            self.ec2_query(
                region,
                format!(
                    "Action=DisassociateAddress&Version=2016-11-15&AssociationId={association}"
                ),
            )
            .await;
        }
        if response.status().is_success()
            && let Some(eni) = element(&described, "networkInterfaceId")
        {
            self.ec2_query(
                region,
                format!(
                    "Action=DeleteNetworkInterface&Version=2016-11-15&NetworkInterfaceId={eni}"
                ),
            )
            .await;
        }
        response
    }

    /// AWS's DependencyViolation for a DeleteVpc/DeleteSubnet whose dependents remain.
    pub(crate) async fn refuse_while_dependents(
        &self,
        check: &DependencyCheck,
        region: &str,
    ) -> Option<Response<Full<Bytes>>> {
        for query in check.queries() {
            let Some(answer) = self
                .moto_query(query.service, region, query.form.clone())
                .await
            else {
                continue;
            };
            if check.found(&query, &answer) {
                return Some(check.refusal(query.what));
            }
        }
        None
    }
}
