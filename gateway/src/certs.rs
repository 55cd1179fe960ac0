//! A throw-away private CA and leaf certificates, generated at run time (rcgen).
//!
//! The demo uses it so it needs no files, and the integration tests use it so every run has
//! its own CA. Never used for a configured production listener.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;

/// A generated CA that can sign leaf certificates.
pub struct DemoPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A generated leaf: chain (leaf, then CA) and key, in DER and PEM.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Leaf first, then the issuing CA, as a server should send it.
    pub chain: Vec<CertificateDer<'static>>,
    /// The chain as PEM.
    pub chain_pem: String,
    /// The private key as PKCS#8 PEM.
    pub key_pem: String,
}

impl DemoPki {
    /// Generates a new CA (ECDSA P-256).
    pub fn generate() -> Result<DemoPki, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "edge-gateway throw-away CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(DemoPki { ca })
    }

    /// The CA certificate as PEM (what clients should trust).
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA certificate as DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// Issues a server certificate for `names` (DNS names or IP literals).
    pub fn leaf(&self, names: &[&str]) -> Result<Leaf, rcgen::Error> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone())?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca)?;
        Ok(Leaf {
            chain: vec![cert.der().clone(), self.ca.der().clone()],
            chain_pem: format!("{}{}", cert.pem(), self.ca.pem()),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Writes `leaf` as `<name>.pem` and `<name>.key` in `dir` (key readable by the owner only).
pub fn write_pair(dir: &Path, name: &str, leaf: &Leaf) -> io::Result<(PathBuf, PathBuf)> {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    fs::write(&cert, &leaf.chain_pem)?;
    write_private(&key, leaf.key_pem.as_bytes())?;
    Ok((cert, key))
}

/// Writes `bytes` to `path`, readable by the owner only.
#[cfg(unix)]
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// Writes `bytes` to `path`.
#[cfg(not(unix))]
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::write(path, bytes)
}
