//! Admin API authentication: bearer tokens from the environment or a token file, compared in
//! constant time. Tokens are never read from the config file itself.

use std::path::Path;

use subtle::ConstantTimeEq;

/// Shortest token accepted: long enough that guessing is hopeless.
pub const MIN_TOKEN_LEN: usize = 16;

/// The environment variable holding the admin token.
pub const TOKEN_ENV: &str = "EDGE_ADMIN_TOKEN";

/// Named admin tokens (the name appears in audit lines, never the token).
#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Tokens").field("names", &names).finish()
    }
}

impl Tokens {
    /// Tokens from `env_value` (named `env`) and from `file`: one token per line, optionally
    /// `name:token`; blank lines and `#` comments ignored.
    pub fn load(env_value: Option<&str>, file: Option<&Path>) -> Result<Tokens, String> {
        let mut tokens = Vec::new();
        if let Some(v) = env_value.map(str::trim).filter(|v| !v.is_empty()) {
            check_len(v, TOKEN_ENV)?;
            tokens.push(("env".to_string(), v.as_bytes().to_vec()));
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("admin token file {}: {e}", path.display()))?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (name, token) = match line.split_once(':') {
                    Some((n, t)) => (n.trim().to_string(), t.trim()),
                    None => (format!("file:{}", i + 1), line),
                };
                check_len(token, &format!("{}:{}", path.display(), i + 1))?;
                tokens.push((name, token.as_bytes().to_vec()));
            }
        }
        Ok(Tokens { tokens })
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The name of the token in `Authorization: Bearer <token>`, if it is one of ours.
    /// Every configured token is compared, in constant time, whatever matches first.
    pub fn check(&self, authorization: Option<&str>) -> Option<&str> {
        let presented = authorization?.trim();
        let (scheme, token) = presented.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim().as_bytes();
        let mut found = None;
        for (name, expected) in &self.tokens {
            if bool::from(expected.as_slice().ct_eq(token)) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }
}

fn check_len(token: &str, origin: &str) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN {
        Err(format!(
            "admin token from {origin} is too short ({} characters; at least {MIN_TOKEN_LEN})",
            token.len()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file_tokens_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(
            &f,
            "# ops\nalice:aaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbb\n",
        )
        .unwrap();
        let t = Tokens::load(Some("eeeeeeeeeeeeeeeeeeee"), Some(&f)).unwrap();
        assert_eq!(t.check(Some("Bearer eeeeeeeeeeeeeeeeeeee")), Some("env"));
        assert_eq!(t.check(Some("bearer aaaaaaaaaaaaaaaaaaaa")), Some("alice"));
        assert_eq!(t.check(Some("Bearer bbbbbbbbbbbbbbbbbbbb")), Some("file:3"));
        assert_eq!(t.check(Some("Bearer wrong-token-wrong-token")), None);
        assert_eq!(t.check(Some("Basic eeeeeeeeeeeeeeeeeeee")), None);
        assert_eq!(t.check(None), None);
    }

    #[test]
    fn short_tokens_are_refused() {
        assert!(Tokens::load(Some("short"), None).is_err());
        assert!(Tokens::load(None, None).unwrap().is_empty());
    }
}
