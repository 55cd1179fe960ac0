//! Robustness: no text, TOML-like or not, makes parsing panic (property tests).

use std::path::Path;

use edge_config::parse;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = parse(&text, "fuzz.toml", Path::new("/nonexistent"));
    }

    #[test]
    fn parse_never_panics_on_toml_like_text(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("[listeners]".to_owned()),
                Just("[[regions]]".to_owned()),
                Just("[[geographies]]".to_owned()),
                Just("[tenancy]".to_owned()),
                Just("[[tls.certificates]]".to_owned()),
                Just("[health]".to_owned()),
                Just("[outlier_detection]".to_owned()),
                Just("[routing.retry_budget]".to_owned()),
                Just("[client_ip]".to_owned()),
                Just("[rate_limits]".to_owned()),
                Just("[rate_limits.plans.standard]".to_owned()),
                Just("[rate_limits.per_client]".to_owned()),
                Just("[[rate_limits.routes]]".to_owned()),
                Just("[[rate_limits.tenant_overrides]]".to_owned()),
                Just("[regions.health]".to_owned()),
                "[a-z_]{1,12} = \"[a-z0-9{}:./ -]{0,20}\"",
                "[a-z_]{1,12} = -?[0-9]{1,12}",
                "[a-z_]{1,12} = \\[\\{ [a-z]{1,8} = \"[a-z0-9.:]{0,12}\" \\}\\]",
                "\\PC{0,30}",
            ],
            0..30,
        )
    ) {
        let text = lines.join("\n");
        let _ = parse(&text, "fuzz.toml", Path::new("/nonexistent"));
    }
}
