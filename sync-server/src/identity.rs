//! The server's TLS identity and the device certificates it issues.
//!
//! On first start the server makes, in its data directory, a device CA (a
//! key and a self-signed certificate) and a server certificate signed by
//! it. A device pins that CA at enrolment: it learns the CA's SHA-256
//! fingerprint from the office with its one-time code. At enrolment the
//! device sends only its public key; the server signs a client certificate
//! for it, and from then on the device connects with mutual TLS. The server
//! knows a device by the SHA-256 of the certificate it issued, stored with
//! the device, so revoking is a row update, and a certificate for a revoked
//! or unknown device opens nothing.
//!
//! An operator who has a certificate of their own for the server may put
//! `server.der` and `server.key.der` in the data directory instead, as long
//! as it is issued by the device CA (`ca.der`, `ca.key.der`): devices pin
//! that CA, and trust what it signs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SignatureAlgorithm,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use waybill_shared::sync::{ALPN, SERVER_NAME};

/// What can go wrong with the identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file in the data directory could not be read or written.
    #[error("cannot read or write {path}: {error}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why (in the message, so not a source).
        error: std::io::Error,
    },
    /// Certificate generation or signing failed.
    #[error("certificate: {0}")]
    Cert(rcgen::Error),
    /// TLS configuration failed.
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    /// A device's public key is not a P-256 point.
    #[error("the device's public key is not an uncompressed P-256 point")]
    BadPublicKey,
}

/// The server's keys and certificates.
pub struct Identity {
    ca_key: KeyPair,
    ca_der: Vec<u8>,
    server_chain: Vec<Vec<u8>>,
    server_key: Vec<u8>,
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, IdentityError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(IdentityError::File { path: path.into(), error }),
    }
}

/// Writes a file whole (temporary name, synced, renamed), readable by the
/// server's user only: some of these are private keys.
fn write(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("partial");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|error| IdentityError::File { path: path.into(), error })
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Waybill device CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

// By hand rather than `#[from]`: the message already holds the cause, so
// it is not reported again as the source (an error chain says it once).
impl From<rcgen::Error> for IdentityError {
    fn from(e: rcgen::Error) -> Self {
        Self::Cert(e)
    }
}

impl From<rustls::Error> for IdentityError {
    fn from(e: rustls::Error) -> Self {
        Self::Tls(e)
    }
}

impl Identity {
    /// Loads the identity from `dir`, making what is missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, IdentityError> {
        let (ca_key_path, ca_path) = (dir.join("ca.key.der"), dir.join("ca.der"));
        let (ca_key, ca_der) = match (read(&ca_key_path)?, read(&ca_path)?) {
            (Some(k), Some(c)) => (KeyPair::try_from(k.as_slice())?, c),
            _ => {
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
                let cert = ca_params().self_signed(&key)?;
                write(&ca_key_path, &key.serialize_der())?;
                write(&ca_path, cert.der())?;
                (key, cert.der().to_vec())
            }
        };
        let (key_path, cert_path) = (dir.join("server.key.der"), dir.join("server.der"));
        let (server_key, server_chain) = match (read(&key_path)?, read(&cert_path)?) {
            (Some(k), Some(c)) => (k, vec![c, ca_der.clone()]),
            _ => {
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
                let params = CertificateParams::new(vec![
                    SERVER_NAME.to_owned(),
                    "localhost".to_owned(),
                    "127.0.0.1".to_owned(),
                ])?;
                let issuer = Issuer::new(ca_params(), &ca_key);
                let cert = params.signed_by(&key, &issuer)?;
                write(&key_path, &key.serialize_der())?;
                write(&cert_path, cert.der())?;
                (key.serialize_der(), vec![cert.der().to_vec(), ca_der.clone()])
            }
        };
        Ok(Self { ca_key, ca_der, server_chain, server_key })
    }

    /// The key that signs customers' tracking links: derived from the CA's
    /// private key, so every node of one server holds the same.
    pub fn link_key(&self) -> ring::hmac::Key {
        crate::tracking::link_key(&self.ca_key.serialize_der())
    }

    /// The device CA certificate.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The fingerprint devices pin: SHA-256 of the CA certificate, hex.
    pub fn ca_fingerprint(&self) -> String {
        sha256_hex(&self.ca_der)
    }

    /// Signs a client certificate for `device` over its raw P-256 public key.
    pub fn issue(&self, device: &str, public_key: &[u8]) -> Result<Vec<u8>, IdentityError> {
        if public_key.len() != 65 || public_key[0] != 4 {
            return Err(IdentityError::BadPublicKey);
        }
        let mut params = CertificateParams::new(vec![format!("{device}.device.waybill")])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, device);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let issuer = Issuer::new(ca_params(), &self.ca_key);
        Ok(params.signed_by(&DeviceKey(public_key.to_vec()), &issuer)?.der().to_vec())
    }

    /// The QUIC server configuration: TLS 1.3, ALPN `waybill/1`, client
    /// certificates verified against the device CA but optional (enrolment
    /// comes without one).
    pub fn quic_server_config(&self) -> Result<quinn::ServerConfig, IdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.ca_der.clone()))?;
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let chain = self.server_chain.iter().map(|c| CertificateDer::from(c.clone())).collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
    }
}

/// A device's public key, as rcgen wants it for signing.
struct DeviceKey(Vec<u8>);

impl PublicKeyData for DeviceKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

/// SHA-256 of `bytes`, lowercase hex: how certificates are pinned and known.
pub fn sha256_hex(bytes: &[u8]) -> String {
    waybill_shared::blob::BlobHash::of(bytes).hex()
}
