//! What a geography, region or plan name may look like: one rule shared by the config file
//! ([`crate::validate`]) and the tenant file ([`crate::tenants_file`]).
//!
//! A leaf module of its own so that neither of those two has to import the other for it.

/// What a valid geography, region or plan name looks like, for error messages.
pub const NAME_RULE: &str =
    "use 1 to 63 lower-case letters, digits and '-', starting with a letter or digit";

/// Whether `name` is a valid geography, region or plan name: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    bytes.len() <= 63
        && bytes.first().is_some_and(allowed)
        && bytes.iter().all(|c| allowed(c) || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["eu", "0", "north-europe", "a1-", &"a".repeat(63)] {
            assert!(is_valid_name(ok), "{ok:?}");
        }
        for bad in [
            "",
            "-eu",
            "EU",
            "north europe",
            "eu_1",
            "é",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
