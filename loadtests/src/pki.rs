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
        let text = fs::read_to_string(path)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        let begin = "-----BEGIN CERTIFICATE-----";
        let end = "-----END CERTIFICATE-----";
        let start = text
            .find(begin)
            .ok_or_else(|| format!("{}: no PEM certificate", path.display()))?;
        let rest = &text[start + begin.len()..];
        let stop = rest
            .find(end)
            .ok_or_else(|| format!("{}: unterminated PEM certificate", path.display()))?;
        let b64: String = rest[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = decode_base64(&b64).ok_or_else(|| {
            format!(
                "{}: the PEM certificate is not valid base64",
                path.display()
            )
        })?;
        Ok(CertificateDer::from(der))
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

/// Standard base64 (with padding) to bytes; `None` on any invalid character.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..n {
            out.push(((acc >> (16 - 8 * i)) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip_known_values() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert!(decode_base64("a$==").is_none());
    }

    #[test]
    fn generated_ca_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        let back = Pki::read_ca(&pki.ca_pem).unwrap();
        assert_eq!(back, pki.ca_der);
    }
}
