//! `[server]`, `[listeners]`, `[tls]` and `[admin]`: what the process binds and serves, and
//! the files it needs for that (certificates and keys are read and parsed as PEM here, so a
//! wrong file fails validation rather than the first handshake).

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use toml::de::DeValue;

use super::schema::{Elements, Piece};
use super::spans::KeyPath;
use super::validator::Validator;
use super::values::MinDuration;
use crate::defaults::{default_threads, DEFAULT_GRACE_PERIOD, DEFAULT_HSTS_MAX_AGE, MAX_THREADS};
use crate::file::{AdminFile, CertificateFile, ListenersFile, ServerFile, TlsFile};
use crate::model::{Admin, Certificate, Listeners, Server, Tls};

impl<'a> Validator<'a> {
    pub(super) fn server(&mut self, file: Option<&ServerFile>) -> Server {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("server");
        let threads = match file.threads {
            None => default_threads(),
            Some(_) => {
                let n = self.int(&path.key("threads"), file.threads, 1, 1, MAX_THREADS);
                usize::try_from(n)
                    .ok()
                    .and_then(NonZeroUsize::new)
                    .unwrap_or(NonZeroUsize::MIN)
            }
        };
        let grace_period = self.duration(
            &path.key("grace_period"),
            file.grace_period,
            DEFAULT_GRACE_PERIOD,
            MinDuration::Any,
        );
        Server {
            threads,
            grace_period,
        }
    }

    pub(super) fn listeners(&mut self, piece: &Piece<ListenersFile>) -> Listeners {
        let path = KeyPath::default().key("listeners");
        let mut listeners = Listeners {
            https: Vec::new(),
            http: Vec::new(),
            admin: None,
        };
        if piece.is_broken() {
            return listeners;
        }
        let file = piece.parsed().cloned().unwrap_or_default();
        let mut all: Vec<(KeyPath, SocketAddr)> = Vec::new();
        for (i, text) in file.https.iter().enumerate() {
            let p = path.key("https").index(i);
            if let Some(addr) = self.listen_addr(&p, text) {
                listeners.https.push(addr);
                all.push((p, addr));
            }
        }
        for (i, text) in file.http.iter().enumerate() {
            let p = path.key("http").index(i);
            if let Some(addr) = self.listen_addr(&p, text) {
                listeners.http.push(addr);
                all.push((p, addr));
            }
        }
        if let Some(text) = &file.admin {
            let p = path.key("admin");
            listeners.admin = self.listen_addr(&p, text);
            if let Some(addr) = listeners.admin {
                all.push((p, addr));
            }
        }
        // A present but mistyped `https` was already reported by the schema stage.
        let https_path = path.key("https");
        let https_written = self
            .node(&https_path)
            .is_some_and(|n| !matches!(n.get_ref(), DeValue::Array(a) if a.is_empty()));
        if file.https.is_empty() && !https_written {
            self.error(
                &path.key("https"),
                "at least one HTTPS listener is required, e.g. https = [\"0.0.0.0:443\"]",
            );
        }
        for (j, (path_j, addr_j)) in all.iter().enumerate() {
            let Some((path_i, addr_i)) = all.get(..j).and_then(|before| {
                before
                    .iter()
                    .find(|(_, addr_i)| listeners_overlap(*addr_i, *addr_j))
            }) else {
                continue;
            };
            let why = if addr_i == addr_j {
                "the same address is listed twice".to_owned()
            } else {
                format!(
                    "a wildcard address (0.0.0.0 or [::]) takes port {} on every interface",
                    addr_j.port()
                )
            };
            self.error(
                path_j,
                format!("{addr_j} overlaps {path_i} ({addr_i}): {why}; use another port"),
            );
        }
        listeners
    }

    pub(super) fn listen_addr(&mut self, path: &KeyPath, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    path,
                    format!(
                        "{text:?} is not a listen address: write an IP address and port, e.g. \
                         \"0.0.0.0:443\", \"127.0.0.1:8443\" or \"[::]:443\""
                    ),
                );
                None
            }
        }
    }

    pub(super) fn tls(
        &mut self,
        file: Option<&TlsFile>,
        certificates: &Elements<CertificateFile>,
        https: bool,
    ) -> Tls {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("tls");
        let hsts_max_age = self.duration(
            &path.key("hsts_max_age"),
            file.hsts_max_age,
            DEFAULT_HSTS_MAX_AGE,
            MinDuration::Any,
        );
        let mut tls = Tls {
            hsts_max_age,
            hsts_include_subdomains: file.hsts_include_subdomains.unwrap_or(false),
            certificates: Vec::new(),
        };
        let certs_path = path.key("certificates");
        if https && certificates.is_empty() {
            self.error(
                &certs_path,
                "at least one certificate is required when HTTPS listeners are configured: add \
                 [[tls.certificates]] with cert = \"...pem\" and key = \"...key\"",
            );
        }
        for (i, c) in certificates.parsed() {
            let p = certs_path.index(i);
            let cert = self.pem_file(&p.key("cert"), &c.cert, PemKind::Certificate);
            let key = self.pem_file(&p.key("key"), &c.key, PemKind::PrivateKey);
            if let (Some(cert), Some(key)) = (cert, key) {
                tls.certificates.push(Certificate { cert, key });
            }
        }
        tls
    }

    pub(super) fn pem_file(
        &mut self,
        path: &KeyPath,
        written: &str,
        kind: PemKind,
    ) -> Option<PathBuf> {
        let resolved = self.base_dir.join(written);
        let shown = if Path::new(written) == resolved {
            format!("{written:?}")
        } else {
            format!("{written:?} ({})", resolved.display())
        };
        let bytes = match std::fs::read(&resolved) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.error(path, format!("cannot read {shown}: {e}"));
                return None;
            }
        };
        let problem = match kind {
            PemKind::Certificate => {
                let mut count = 0usize;
                let mut bad = None;
                for cert in rustls_pemfile::certs(&mut bytes.as_slice()) {
                    match cert {
                        Ok(_) => count += 1,
                        Err(e) => {
                            bad = Some(e);
                            break;
                        }
                    }
                }
                match (bad, count) {
                    (Some(e), _) => Some(format!("{shown} is not valid PEM: {e}")),
                    (None, 0) => Some(format!(
                        "{shown} holds no PEM CERTIFICATE block; expected the certificate \
                         chain, leaf first"
                    )),
                    (None, _) => None,
                }
            }
            PemKind::PrivateKey => match rustls_pemfile::private_key(&mut bytes.as_slice()) {
                Ok(Some(_)) => None,
                Ok(None) => Some(format!(
                    "{shown} holds no private key; expected a PEM PRIVATE KEY, RSA PRIVATE KEY \
                     or EC PRIVATE KEY block"
                )),
                Err(e) => Some(format!("{shown} is not valid PEM: {e}")),
            },
        };
        match problem {
            Some(message) => {
                self.error(path, message);
                None
            }
            None => Some(resolved),
        }
    }

    pub(super) fn admin(&mut self, file: Option<&AdminFile>) -> Admin {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("admin");
        let token_file = file.token_file.as_deref().map(|f| {
            let resolved = self.base_dir.join(f);
            if let Err(e) = std::fs::metadata(&resolved) {
                self.error(
                    &path.key("token_file"),
                    format!("cannot read {f:?} ({}): {e}", resolved.display()),
                );
            }
            resolved
        });
        let state_file = file.state_file.as_deref().map(|f| {
            let resolved = self.base_dir.join(f);
            let dir = resolved.parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir {
                if !dir.is_dir() {
                    self.error(
                        &path.key("state_file"),
                        format!("the directory of {f:?} ({}) does not exist", dir.display()),
                    );
                }
            }
            resolved
        });
        Admin {
            token_file,
            metrics_public: file.metrics_public.unwrap_or(false),
            state_file,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum PemKind {
    Certificate,
    PrivateKey,
}

/// Two listeners cannot both bind: the same address, or a wildcard and anything on its port.
/// `[::]` counts as overlapping IPv4 too, since dual-stack sockets are the Linux default.
/// Port 0 asks the kernel for a free port, so it never collides.
pub(super) fn listeners_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_overlap() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(listeners_overlap(a("0.0.0.0:80"), a("10.0.0.1:80")));
        assert!(listeners_overlap(a("10.0.0.1:80"), a("[::]:80")));
        assert!(listeners_overlap(a("[::1]:80"), a("[::1]:80")));
        assert!(!listeners_overlap(a("10.0.0.1:80"), a("10.0.0.2:80")));
        assert!(!listeners_overlap(a("0.0.0.0:80"), a("0.0.0.0:81")));
        assert!(!listeners_overlap(a("0.0.0.0:0"), a("0.0.0.0:0")));
    }
}
