//! The unlock page served at `GET /`: one static, dependency-free HTML file for a phone, with
//! the configured issuer and unlock window filled in.

/// The page's template (no external scripts, styles or fonts).
pub const HTML: &str = include_str!("page.html");

/// The Content-Security-Policy sent with the page: nothing loads from elsewhere.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `text` safe inside HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page for this server: `issuer` (escaped) in the title and heading, the unlock window's
/// length in the hints.
pub fn html(issuer: &str, window_secs: u64) -> String {
    HTML.replace("{{ISSUER}}", &escape(issuer))
        .replace("{{WINDOW}}", &window_secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained_and_has_the_forms() {
        let page = html("ticketgate", 60);
        for needle in [
            "id=\"user\"",
            "id=\"code\"",
            "id=\"unlock\"",
            "id=\"msg\"",
            "v1/unlock",
            "id=\"enroll-code\"",
            "v1/enroll",
            "v1/enroll/confirm",
            "within 60 seconds",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
        for remote in ["http://", "https://", "src=\"", "<link", "{{"] {
            assert!(
                !page.contains(remote),
                "page loads something from elsewhere or kept a placeholder: {remote}"
            );
        }
    }

    /// Issue 16 (item 7): the configured issuer is the page's title and heading, escaped.
    #[test]
    fn the_issuer_is_shown_escaped_in_title_and_heading() {
        let page = html("Acme <R&D> \"ops\"", 60);
        let shown = "Acme &lt;R&amp;D&gt; &quot;ops&quot;";
        assert!(page.contains(&format!("<title>{shown}: unlock login</title>")));
        assert!(page.contains(&format!("<h1 id=\"issuer\">{shown}</h1>")));
        assert!(!page.contains("<R&D>"));
    }
}
