//! Admin API authentication: bearer tokens from the environment or a token file, compared in
//! constant time, each with a name (for the audit) and a [`Role`]. Tokens are never read from
//! the config file itself.

use std::path::Path;

use subtle::ConstantTimeEq;

/// Shortest token accepted: long enough that guessing is hopeless.
pub const MIN_TOKEN_LEN: usize = 16;

/// The environment variable holding the admin token.
pub const TOKEN_ENV: &str = "EDGE_ADMIN_TOKEN";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read: every `GET` of the admin API, the console's views.
    Viewer,
    /// Read and change: weights, drains, overrides, reloads. A token without a role is one.
    Operator,
}

impl Role {
    /// The name used in the token file and the API (`viewer`, `operator`).
    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// Who presented a valid token: its name (for the audit, never the token) and its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The token's name (`env` for `EDGE_ADMIN_TOKEN`, `file:N` for a bare token on line N).
    pub name: &'a str,
    /// What it may do.
    pub role: Role,
}

/// Named admin tokens with their roles (the name appears in audit lines, never the token).
#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Vec<(String, Role, Vec<u8>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .tokens
            .iter()
            .map(|(n, r, _)| format!("{n}:{}", r.label()))
            .collect();
        f.debug_struct("Tokens").field("names", &names).finish()
    }
}

impl Tokens {
    /// Tokens from `env_value` (named `env`, an operator) and from `file`: one per line, as
    /// `name:role:token`, `name:token` or a bare token (the last two are operators, so files
    /// written before roles existed keep working); `role` is `viewer` or `operator`. Blank lines
    /// and `#` comments are ignored. A token with a `:` in it needs the three-part form.
    ///
    /// Errors (with the file and line): unreadable file, unknown role, token shorter than
    /// [`MIN_TOKEN_LEN`].
    pub fn load(env_value: Option<&str>, file: Option<&Path>) -> Result<Tokens, String> {
        let mut tokens = Vec::new();
        if let Some(v) = env_value.map(str::trim).filter(|v| !v.is_empty()) {
            check_len(v, TOKEN_ENV)?;
            tokens.push(("env".to_string(), Role::Operator, v.as_bytes().to_vec()));
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("admin token file {}: {e}", path.display()))?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let at = format!("{}:{}", path.display(), i + 1);
                let (name, role, token) =
                    parse_line(line).map_err(|e| format!("admin token file {at}: {e}"))?;
                let name = name.map_or_else(|| format!("file:{}", i + 1), str::to_string);
                check_len(token, &at)?;
                tokens.push((name, role, token.as_bytes().to_vec()));
            }
        }
        Ok(Tokens { tokens })
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The caller presenting `Authorization: Bearer <token>` (name and role), if the token is
    /// one of ours. Every configured token is compared, in constant time, whatever matches
    /// first.
    pub fn identify(&self, authorization: Option<&str>) -> Option<Caller<'_>> {
        let presented = authorization?.trim();
        let (scheme, token) = presented.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim().as_bytes();
        let mut found = None;
        for (name, role, expected) in &self.tokens {
            if bool::from(expected.as_slice().ct_eq(token)) && found.is_none() {
                found = Some(Caller {
                    name: name.as_str(),
                    role: *role,
                });
            }
        }
        found
    }
}

/// One non-blank, non-comment line of a token file: `(name, role, token)`, the name `None`
/// for a bare token. Also used by `ctl`, which sends the first token of such a file.
pub fn parse_line(line: &str) -> Result<(Option<&str>, Role, &str), String> {
    let parts: Vec<&str> = line.trim().splitn(3, ':').map(str::trim).collect();
    match parts.as_slice() {
        [name, role, token] => match Role::parse(role) {
            Some(role) => Ok((Some(name), role, token)),
            None => Err(format!(
                "unknown role {role:?} (expected `name:viewer:token`, `name:operator:token`, \
                 `name:token` or a bare token)"
            )),
        },
        [name, token] => Ok((Some(name), Role::Operator, token)),
        [token] => Ok((None, Role::Operator, token)),
        _ => Err("empty line".to_string()),
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
        assert_eq!(
            t.identify(Some("Bearer eeeeeeeeeeeeeeeeeeee"))
                .map(|c| c.name),
            Some("env")
        );
        assert_eq!(
            t.identify(Some("bearer aaaaaaaaaaaaaaaaaaaa"))
                .map(|c| c.name),
            Some("alice")
        );
        assert_eq!(
            t.identify(Some("Bearer bbbbbbbbbbbbbbbbbbbb"))
                .map(|c| c.name),
            Some("file:3")
        );
        assert_eq!(
            t.identify(Some("Bearer wrong-token-wrong-token"))
                .map(|c| c.name),
            None
        );
        assert_eq!(
            t.identify(Some("Basic eeeeeeeeeeeeeeeeeeee"))
                .map(|c| c.name),
            None
        );
        assert_eq!(t.identify(None).map(|c| c.name), None);
    }

    #[test]
    fn roles_come_from_the_three_part_form_and_default_to_operator() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(
            &f,
            "vera:viewer:vvvvvvvvvvvvvvvvvvvv\nolga:operator:oooooooooooooooo:oooo\n\
             old:aaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbb\n",
        )
        .unwrap();
        let t = Tokens::load(Some("eeeeeeeeeeeeeeeeeeee"), Some(&f)).unwrap();
        let who = |tok: &str| {
            t.identify(Some(&format!("Bearer {tok}")))
                .map(|c| (c.name.to_string(), c.role))
        };
        assert_eq!(
            who("vvvvvvvvvvvvvvvvvvvv"),
            Some(("vera".into(), Role::Viewer))
        );
        // A token may hold `:` in the three-part form.
        assert_eq!(
            who("oooooooooooooooo:oooo"),
            Some(("olga".into(), Role::Operator))
        );
        assert_eq!(
            who("aaaaaaaaaaaaaaaaaaaa"),
            Some(("old".into(), Role::Operator))
        );
        assert_eq!(
            who("bbbbbbbbbbbbbbbbbbbb"),
            Some(("file:4".into(), Role::Operator))
        );
        assert_eq!(
            who("eeeeeeeeeeeeeeeeeeee"),
            Some(("env".into(), Role::Operator))
        );
    }

    #[test]
    fn an_unknown_role_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(&f, "# ops\nroot:admin:rrrrrrrrrrrrrrrrrrrr\n").unwrap();
        let e = Tokens::load(None, Some(&f)).unwrap_err();
        assert!(e.contains(&format!("{}:2", f.display())), "{e}");
        assert!(e.contains("unknown role \"admin\""), "{e}");
    }

    #[test]
    fn short_tokens_are_refused() {
        assert!(Tokens::load(Some("short"), None).is_err());
        assert!(Tokens::load(None, None).unwrap().is_empty());
    }
}
