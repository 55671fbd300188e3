//! The simulator's HTTPS: a certificate for 127.0.0.1 made when it starts, as an EKS
//! cluster's API server has one its `certificateAuthority` vouches for. kubectl refuses to
//! send credentials over plain HTTP, and Strata's functions trust only the CA EKS names.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    /// The certificate, self-signed: it is its own authority.
    pub(crate) certificate_pem: String,
}

impl Tls {
    pub(crate) fn new() -> Self {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("a self-signed certificate for loopback is always made");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        // aws-lc-rs, as every TLS client here: the process may hold more than one provider.
        let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("the default protocol versions are supported")
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)
            .expect("the certificate matches its key");
        Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate_pem: made.cert.pem(),
        }
    }
}
