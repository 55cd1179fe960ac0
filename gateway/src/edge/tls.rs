//! TLS termination: certificate choice by SNI, replaceable without a restart.
//!
//! Pingora 0.9 lets a listener take a rustls [`ResolvesServerCert`]; [`CertResolver`] is ours.
//! It holds the current [`CertStore`] behind an `ArcSwap`, so a reload swaps certificates for
//! new handshakes while established connections keep theirs.

use std::fmt;
use std::fs;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use edge_config::Certificate;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file held no usable PEM item of the expected kind.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: String,
        /// What was missing or wrong.
        what: String,
    },
    /// The key cannot be used by rustls, or does not match the certificate.
    #[error("{path}: {what}")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong with it.
        what: String,
    },
    /// There are no certificates at all.
    #[error("no certificates configured")]
    Empty,
}

/// One loaded certificate chain with its signing key.
struct Entry {
    key: Arc<CertifiedKey>,
}

impl Entry {
    fn matches(&self, name: &ServerName<'_>) -> bool {
        let Some(leaf) = self.key.cert.first() else {
            return false;
        };
        match webpki::EndEntityCert::try_from(leaf) {
            Ok(ee) => ee.verify_is_valid_for_subject_name(name).is_ok(),
            Err(_) => false,
        }
    }
}

/// A set of certificates; the first is the default.
pub struct CertStore {
    entries: Vec<Entry>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("certificates", &self.entries.len())
            .finish()
    }
}

impl CertStore {
    /// Loads every configured certificate; fails on the first unusable one, naming it.
    pub fn load(certs: &[Certificate]) -> Result<CertStore, TlsError> {
        let entries = certs
            .iter()
            .map(|c| load_pair(&c.cert, &c.key).map(|key| Entry { key: Arc::new(key) }))
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Err(TlsError::Empty);
        }
        Ok(CertStore { entries })
    }

    /// The certificate for SNI `name`: the first whose names cover it, else the default.
    ///
    /// The search is linear in the number of certificates, which suits the handful an edge
    /// listener serves; thousands of certificates would want an index by name.
    pub fn choose(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(server_name) = name.and_then(|n| ServerName::try_from(n).ok()) {
            if let Some(e) = self.entries.iter().find(|e| e.matches(&server_name)) {
                return Some(e.key.clone());
            }
        }
        self.entries.first().map(|e| e.key.clone())
    }
}

/// The rustls certificate resolver installed on every HTTPS listener.
pub struct CertResolver {
    store: ArcSwap<CertStore>,
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver").finish_non_exhaustive()
    }
}

impl CertResolver {
    /// A resolver serving `store`.
    pub fn new(store: CertStore) -> Self {
        CertResolver {
            store: ArcSwap::from_pointee(store),
        }
    }

    /// Replaces the certificates for new handshakes.
    pub fn replace(&self, store: CertStore) {
        self.store.store(Arc::new(store));
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.store.load().choose(hello.server_name())
    }
}

fn load_pair(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = read_chain(cert_path)?;
    let key = read_key(key_path)?;
    let kp = key_path.display().to_string();
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| TlsError::Key {
            path: kp.clone(),
            what: format!("unsupported private key: {e}"),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Key {
        path: kp,
        what: format!(
            "the key does not match the certificate in {}: {e}",
            cert_path.display()
        ),
    })?;
    Ok(certified)
}

fn open(path: &Path) -> Result<BufReader<fs::File>, TlsError> {
    fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
}

/// Reads a PEM chain, leaf first.
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.display().to_string(),
            what: format!("invalid PEM: {e}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: path.display().to_string(),
            what: "no CERTIFICATE found".into(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|e| TlsError::Pem {
            path: path.display().to_string(),
            what: format!("invalid PEM: {e}"),
        })?
        .ok_or_else(|| TlsError::Pem {
            path: path.display().to_string(),
            what: "no PRIVATE KEY found".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::certs::{write_pair, DemoPki};

    #[test]
    fn sni_chooses_matching_certificate_else_default() {
        let dir = tempfile::tempdir().unwrap();
        let pki = DemoPki::generate().unwrap();
        let a = pki.leaf(&["a.example.com"]).unwrap();
        let b = pki.leaf(&["*.b.example.com"]).unwrap();
        let (ca, ka) = write_pair(dir.path(), "a", &a).unwrap();
        let (cb, kb) = write_pair(dir.path(), "b", &b).unwrap();
        let store = CertStore::load(&[
            Certificate { cert: ca, key: ka },
            Certificate { cert: cb, key: kb },
        ])
        .unwrap();
        let leaf = |n: Option<&str>| store.choose(n).unwrap().cert[0].clone();
        assert_eq!(leaf(Some("x.b.example.com")), b.chain[0]);
        assert_eq!(leaf(Some("a.example.com")), a.chain[0]);
        assert_eq!(leaf(Some("other.example.org")), a.chain[0]);
        assert_eq!(leaf(None), a.chain[0]);
    }

    #[test]
    fn mismatched_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pki = DemoPki::generate().unwrap();
        let a = pki.leaf(&["a.example.com"]).unwrap();
        let b = pki.leaf(&["b.example.com"]).unwrap();
        let (ca, _) = write_pair(dir.path(), "a", &a).unwrap();
        let (_, kb) = write_pair(dir.path(), "b", &b).unwrap();
        let err = CertStore::load(&[Certificate { cert: ca, key: kb }]).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }
}
