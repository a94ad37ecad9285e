//! Host patterns of a scope: `;`-separated, `*` matches any run of characters, case-insensitive.

/// One or more host patterns, e.g. `"*.prod.example.com;db01"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPatterns(Vec<String>);

impl HostPatterns {
    /// Splits on `;`, trims, lower-cases; empty entries are an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in text.split(';') {
            let p = part.trim();
            if p.is_empty() {
                return Err(format!(
                    "\"{text}\" has an empty pattern (check for a stray ';')"
                ));
            }
            if !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*'))
            {
                return Err(format!(
                    "pattern \"{p}\" may hold only letters, digits, '.', '-', '_' and '*'"
                ));
            }
            out.push(p.to_ascii_lowercase());
        }
        Ok(Self(out))
    }

    /// True when any pattern matches any of the given names (short and fully qualified).
    pub fn matches_any(&self, names: &[&str]) -> bool {
        self.0.iter().any(|p| {
            names
                .iter()
                .any(|n| wildcard_match(p.as_bytes(), n.to_ascii_lowercase().as_bytes()))
        })
    }
}

/// Iterative `*` matcher: linear in practice, no recursion, no regex.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match (pattern.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                star = Some((p, t));
                p += 1;
            }
            (Some(pc), Some(tc)) if pc == tc => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_a_domain_suffix_only() {
        let h = HostPatterns::parse("*.prod.example.com;db01").unwrap();
        assert!(h.matches_any(&["web1.prod.example.com"]));
        assert!(h.matches_any(&["DB01"]));
        assert!(!h.matches_any(&["db011"]));
        assert!(!h.matches_any(&["web1.test.example.com"]));
        assert!(!h.matches_any(&["prod.example.com"]));
    }

    #[test]
    fn short_or_fully_qualified_name_may_match() {
        let h = HostPatterns::parse("db01").unwrap();
        assert!(h.matches_any(&["db01.example.com", "db01"]));
        assert!(!h.matches_any(&["db01.example.com"]));
    }

    #[test]
    fn middle_and_repeated_stars() {
        let h = HostPatterns::parse("web*-*.example.com").unwrap();
        assert!(h.matches_any(&["web12-a.example.com"]));
        assert!(!h.matches_any(&["web12.example.com"]));
        assert!(HostPatterns::parse("*").unwrap().matches_any(&["anything"]));
    }

    #[test]
    fn empty_or_odd_patterns_are_errors() {
        assert!(HostPatterns::parse("a;;b").is_err());
        assert!(HostPatterns::parse("").is_err());
        assert!(HostPatterns::parse("a/b").is_err());
    }
}
