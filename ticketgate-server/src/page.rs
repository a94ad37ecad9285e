//! The unlock page served at `GET /`: one static, dependency-free HTML file for a phone.

/// The page itself (no external scripts, styles or fonts).
pub const HTML: &str = include_str!("page.html");

/// The Content-Security-Policy sent with the page: nothing loads from elsewhere.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained_and_has_the_form() {
        for needle in [
            "id=\"user\"",
            "id=\"code\"",
            "id=\"unlock\"",
            "id=\"msg\"",
            "v1/unlock",
        ] {
            assert!(HTML.contains(needle), "{needle}");
        }
        for remote in ["http://", "https://", "src=\"", "<link"] {
            assert!(
                !HTML.contains(remote),
                "page loads something from elsewhere: {remote}"
            );
        }
    }
}
