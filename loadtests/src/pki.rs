//! A throw-away CA and server certificate for each run (ECDSA P-256, rcgen).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;

/// The names every generated server certificate covers.
pub const SERVER_NAMES: &[&str] = &["gw.test", "*.app.test", "localhost", "127.0.0.1"];

/// The host name clients use for the gateway (resolved to its listener by the client).
pub const SERVER_NAME: &str = "gw.test";

/// A CA and one server certificate it signed, written to a directory.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate (what clients trust).
    pub ca_der: CertificateDer<'static>,
    /// `ca.pem`.
    pub ca_pem: PathBuf,
    /// `server.pem`: the leaf, then the CA.
    pub cert: PathBuf,
    /// `server.key`: PKCS#8, readable by the owner only.
    pub key: PathBuf,
    /// `server-combined.pem`: chain then key, the form HAProxy reads.
    pub combined: PathBuf,
}

impl Pki {
    /// Generates a CA and a server certificate for [`SERVER_NAMES`] and writes them to `dir`.
    pub fn generate(dir: &Path) -> Result<Pki, String> {
        let err = |e: rcgen::Error| format!("cannot generate certificates: {e}");
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "edge-loadtest throw-away CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().map_err(err)?).map_err(err)?;

        let names: Vec<String> = SERVER_NAMES.iter().map(|s| (*s).to_owned()).collect();
        let mut leaf = CertificateParams::new(names).map_err(err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, SERVER_NAME);
        leaf.distinguished_name = dn;
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(err)?;
        let cert = leaf.signed_by(&key, &ca).map_err(err)?;

        let io = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
        let chain = format!("{}{}", cert.pem(), ca.pem());
        let key_pem = key.serialize_pem();
        let ca_pem = dir.join("ca.pem");
        let cert_path = dir.join("server.pem");
        let key_path = dir.join("server.key");
        let combined = dir.join("server-combined.pem");
        fs::write(&ca_pem, ca.pem()).map_err(|e| io(&ca_pem, e))?;
        fs::write(&cert_path, &chain).map_err(|e| io(&cert_path, e))?;
        write_private(&key_path, key_pem.as_bytes()).map_err(|e| io(&key_path, e))?;
        write_private(&combined, format!("{chain}{key_pem}").as_bytes())
            .map_err(|e| io(&combined, e))?;
        Ok(Pki {
            ca_der: ca.der().clone(),
            ca_pem,
            cert: cert_path,
            key: key_path,
            combined,
        })
    }

    /// Reads the first certificate of a PEM file, to trust a CA of an external gateway.
    pub fn read_ca(path: &Path) -> Result<CertificateDer<'static>, String> {
        let text =
            fs::read(path).map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        let first = rustls_pemfile::certs(&mut text.as_slice())
            .next()
            .ok_or_else(|| format!("{}: no PEM certificate", path.display()))?
            .map_err(|e| format!("{}: unreadable PEM certificate: {e}", path.display()))?;
        Ok(first)
    }
}

/// Writes `bytes` to `path`, readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn generated_ca_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        let back = Pki::read_ca(&pki.ca_pem).unwrap();
        assert_eq!(back, pki.ca_der);
    }
}
