//! `[listeners]` and `[tls]`: an HTTPS listener and a certificate are required, and
//! listener addresses must not overlap.

use std::net::SocketAddr;

use crate::{error_at, errors, ok, BASE};

#[test]
fn listeners_and_certificates_are_required() {
    let text = BASE
        .replace("https = [\"127.0.0.1:8443\"]", "admin = \"127.0.0.1:9901\"")
        .replace(
            "[[tls.certificates]]\ncert = \"certs/edge.pem\"\nkey = \"certs/edge.key\"",
            "",
        );
    let errs = errors(&text);
    error_at(&errs, "listeners.https");
    assert_eq!(errs.len(), 1, "{errs:#?}");

    let text = BASE.replace(
        "[[tls.certificates]]\ncert = \"certs/edge.pem\"\nkey = \"certs/edge.key\"",
        "",
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "tls.certificates")
        .message
        .contains("at least one certificate"));

    let errs = errors("");
    error_at(&errs, "listeners.https");
    error_at(&errs, "tenancy.sources");
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn listener_overlap_rules() {
    let with = |https: &str, http: &str| {
        BASE.replace(
            "https = [\"127.0.0.1:8443\"]",
            &format!("https = [{https}]\nhttp = [{http}]"),
        )
    };
    // Different ports, different addresses on one port, and port 0 never overlap.
    ok(&with(r#""127.0.0.1:8443""#, r#""127.0.0.1:8080""#));
    ok(&with(r#""127.0.0.1:8443", "127.0.0.2:8443""#, ""));
    ok(&with(r#""0.0.0.0:0""#, r#""0.0.0.0:0""#));
    let c = ok(&with(r#""[::1]:8443""#, ""));
    assert_eq!(
        c.listeners.https,
        ["[::1]:8443".parse::<SocketAddr>().unwrap()]
    );
    // [::] overlaps IPv4 too.
    let errs = errors(&with(r#""[::]:8443""#, r#""10.1.2.3:8443""#));
    error_at(&errs, "listeners.http[0]");
    let errs = errors(&with(r#""127.0.0.1:8443", "127.0.0.1:8443""#, ""));
    error_at(&errs, "listeners.https[1]");
}
