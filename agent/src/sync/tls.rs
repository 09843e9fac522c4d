//! The device's TLS: at enrolment, the server is trusted only if it shows
//! the CA (or certificate) whose SHA-256 the office gave with the code; after
//! it, the device presents its certificate and trusts only the CA it was
//! given.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use waybill_shared::sync::ALPN;

/// SHA-256 of `bytes`, lowercase hex (how certificates are pinned).
fn sha256_hex(bytes: &[u8]) -> String {
    waybill_shared::blob::BlobHash::of(bytes).hex()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trusts a server whose chain holds the pinned certificate.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    algorithms: WebPkiSupportedAlgorithms,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if sha256_hex(end_entity) == self.fingerprint {
            return Ok(ServerCertVerified::assertion());
        }
        let ca = intermediates.iter().find(|c| sha256_hex(c) == self.fingerprint).ok_or_else(|| {
            rustls::Error::General("the server's certificate does not match the pinned fingerprint".into())
        })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn quic(tls: rustls::ClientConfig) -> Result<quinn::ClientConfig, rustls::Error> {
    let mut tls = tls;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    // Notice a server that is gone (crashed, restarted) in seconds, not 30.
    set_timeout(&mut config, Duration::from_secs(10));
    Ok(config)
}

/// Gives up on a server that has said nothing for `timeout`, at connecting
/// and at any time after (keep-alives go twice as often).
pub fn set_timeout(config: &mut quinn::ClientConfig, timeout: Duration) {
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(timeout / 2));
    transport.max_idle_timeout(quinn::IdleTimeout::try_from(timeout).ok());
    config.transport_config(Arc::new(transport));
}

/// For enrolment: no client certificate, the server pinned by fingerprint.
pub fn enrolment(fingerprint: &str) -> Result<quinn::ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = Pinned {
        fingerprint: fingerprint.trim().to_ascii_lowercase(),
        algorithms: provider.signature_verification_algorithms,
        provider: provider.clone(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    quic(tls)
}

/// For sync: the device's certificate, the server checked against its CA.
pub fn device(ca: &[u8], certificate: &[u8], key: &[u8]) -> Result<quinn::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.to_vec()))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(certificate.to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
        )?;
    quic(tls)
}
