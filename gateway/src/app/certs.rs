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
        // RFC 5280 path validation (e.g. Python `cryptography`, used by sslyze) requires it.
        params.use_authority_key_identifier_extension = true;
        // Short-lived like a real ACME certificate (and within the 366 days Mozilla's TLS
        // guidelines allow, which the TLS grade check verifies).
        let (y, m, d) = civil_date_in_days(-1);
        params.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = civil_date_in_days(90);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca)?;
        Ok(Leaf {
            chain: vec![cert.der().clone(), self.ca.der().clone()],
            chain_pem: format!("{}{}", cert.pem(), self.ca.pem()),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Today's UTC date plus `offset_days`, as (year, month, day).
fn civil_date_in_days(offset_days: i64) -> (i32, u8, u8) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    civil_from_days(now.div_euclid(86_400) + offset_days)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8, day as u8)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
    }
}
