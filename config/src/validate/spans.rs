//! Key paths such as `regions[1].origins[0].address`, and where they are in the document:
//! the path of the innermost node at a byte offset (serde reports offsets, errors name
//! paths), the table at a path and removing a key there (to retry a piece without a bad
//! key), and the line of an offset.
//!
//! Pure functions over the parsed tree, used by every stage; they know nothing of the
//! validator, so they can be tested on a bare document.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One step of a [`KeyPath`]: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// A path such as `regions[1].origins[0].address`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct KeyPath(pub(super) Vec<Seg>);

impl KeyPath {
    pub(super) fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    pub(super) fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

pub(super) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

/// Finds the innermost key or value of `node` whose span contains `offset`, as a path
/// relative to `node`.
pub(super) fn locate(node: &Spanned<DeValue<'_>>, offset: usize) -> Vec<Seg> {
    struct Best {
        len: usize,
        path: Vec<Seg>,
    }
    fn consider(span: Range<usize>, offset: usize, path: &[Seg], best: &mut Option<Best>) {
        let contains = span.contains(&offset) || (span.is_empty() && span.start == offset);
        if !contains {
            return;
        }
        let len = span.len();
        // Nested nodes can share a span (`[[a.b]]` is both the array `b` and its first
        // element): the deeper one is the more precise answer.
        let better = best
            .as_ref()
            .is_none_or(|b| len < b.len || (len == b.len && path.len() > b.path.len()));
        if better {
            *best = Some(Best {
                len,
                path: path.to_vec(),
            });
        }
    }
    fn walk(
        node: &Spanned<DeValue<'_>>,
        offset: usize,
        path: &mut Vec<Seg>,
        best: &mut Option<Best>,
    ) {
        consider(node.span(), offset, path, best);
        match node.get_ref() {
            DeValue::Table(t) => {
                for (k, v) in t.iter() {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    consider(k.span(), offset, path, best);
                    walk(v, offset, path, best);
                    path.pop();
                }
            }
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    walk(v, offset, path, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(node, offset, &mut Vec::new(), &mut best);
    best.map(|b| b.path).unwrap_or_default()
}

/// The table at `rel` inside `node`.
pub(super) fn table_at<'v, 'a>(
    node: &'v Spanned<DeValue<'a>>,
    rel: &[Seg],
) -> Option<&'v DeTable<'a>> {
    let mut node = node;
    for seg in rel {
        node = match (seg, node.get_ref()) {
            (Seg::Key(k), DeValue::Table(t)) => t.get(k.as_str())?,
            (Seg::Index(i), DeValue::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    match node.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

/// Removes the key at `rel` (which must end with a key) from `node`; false if there is none.
/// Array elements are never removed: that would shift the indices of later errors.
pub(super) fn remove_key(node: &mut Spanned<DeValue<'_>>, rel: &[Seg]) -> bool {
    let Some((Seg::Key(last), parents)) = rel.split_last() else {
        return false;
    };
    let mut node = node;
    for seg in parents {
        let next = match (seg, node.get_mut()) {
            (Seg::Key(k), DeValue::Table(t)) => t.get_mut(k.as_str()),
            (Seg::Index(i), DeValue::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else { return false };
        node = next;
    }
    match node.get_mut() {
        DeValue::Table(t) => t.remove(last.as_str()).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_display_like_toml() {
        let p = KeyPath::default()
            .key("regions")
            .index(1)
            .key("origins")
            .index(0)
            .key("address");
        assert_eq!(p.to_string(), "regions[1].origins[0].address");
        assert_eq!(
            KeyPath::default().key("odd key").key("x").to_string(),
            "\"odd key\".x"
        );
    }

    #[test]
    fn locate_finds_the_innermost_item() {
        let text = "[[r]]\nname = \"a\"\no = [ { address = 1 }, { b = 2 } ]\n";
        let doc = DeTable::parse(text).unwrap();
        let r = doc.get_ref().get("r").unwrap();
        let at = |needle: &str| {
            let rel = locate(r, text.find(needle).unwrap());
            KeyPath(rel).to_string()
        };
        assert_eq!(at("\"a\""), "[0].name");
        assert_eq!(at("address"), "[0].o[0].address");
        assert_eq!(at("1 }"), "[0].o[0].address");
        assert_eq!(at("b = 2"), "[0].o[1].b");
        assert_eq!(at("[[r]]"), "[0]");
    }
}
