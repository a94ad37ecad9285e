//! A small writer over `roff` for the hand-structured parts: sections, paragraphs, tagged
//! paragraphs, examples, and a light inline markup (`**bold**`, `__italic__`) for prose.

use roff::{Inline, Roff, bold, italic, roman};

/// What `roff` puts at the top of every rendering; a page carries it once.
const ROFF_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// A page being written.
pub struct Page {
    out: String,
    roff: Roff,
}

impl Page {
    /// A page with its `.TH` line.
    pub fn new(title: &str, section: &str) -> Self {
        let mut page = Page {
            out: String::new(),
            roff: Roff::new(),
        };
        let source = crate::source();
        page.roff.control(
            "TH",
            [title, section, "\"\"", source.as_str(), crate::MANUAL],
        );
        page
    }

    /// Appends roff source rendered elsewhere (clap_mangen's sections).
    pub fn raw(&mut self, source: &str) {
        self.flush();
        self.out.push_str(without_preamble(source));
    }

    fn flush(&mut self) {
        let roff = std::mem::take(&mut self.roff);
        self.out.push_str(without_preamble(&roff.render()));
    }

    /// `.SH TITLE`.
    pub fn sh(&mut self, title: &str) -> &mut Self {
        self.roff.control("SH", [title]);
        self
    }

    /// A paragraph of prose with inline markup.
    pub fn para(&mut self, text: &str) -> &mut Self {
        self.roff.control("PP", []);
        self.roff.text(markup(text));
        self
    }

    /// Prose continuing the current paragraph (or a tagged paragraph's body).
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.roff.text(markup(text));
        self
    }

    /// A tagged paragraph: `term` (inline parts) on its own line, `body` indented below.
    pub fn tp(&mut self, term: Vec<Inline>, body: &str) -> &mut Self {
        self.roff.control("TP", []);
        self.roff.text(term);
        if !body.is_empty() {
            self.roff.text(markup(body));
        }
        self
    }

    /// A line break inside a paragraph.
    pub fn br(&mut self) -> &mut Self {
        self.roff.control("br", []);
        self
    }

    /// `.RS` / `.RE`: indent what follows / end it.
    pub fn indent(&mut self) -> &mut Self {
        self.roff.control("RS", []);
        self
    }

    pub fn outdent(&mut self) -> &mut Self {
        self.roff.control("RE", []);
        self
    }

    /// Lines shown as they are (no filling), indented: commands, config, stack lines.
    pub fn example(&mut self, lines: &str) -> &mut Self {
        self.roff.control("PP", []);
        self.roff.control("RS", ["4"]);
        self.roff.control("nf", []);
        for line in lines.lines() {
            self.roff.text([roman(line)]);
        }
        self.roff.control("fi", []);
        self.roff.control("RE", []);
        self
    }

    /// The finished roff source.
    pub fn finish(mut self) -> String {
        self.flush();
        format!("{ROFF_PREAMBLE}{}", self.out)
    }
}

fn without_preamble(source: &str) -> &str {
    source.strip_prefix(ROFF_PREAMBLE).unwrap_or(source)
}

/// `**bold**` and `__italic__` in prose, and `` `code` `` (as the CLIs' help texts write it)
/// in bold, so no page shows a literal backtick; everything else roman.
pub fn markup(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let next = [("**", 0u8), ("__", 1u8), ("`", 0u8)]
            .into_iter()
            .filter_map(|(m, kind)| rest.find(m).map(|at| (at, m, kind)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, marker, kind)) = next else {
            break;
        };
        let (before, after) = rest.split_at(at);
        let after = after.get(marker.len()..).unwrap_or_default();
        let Some(end) = after.find(marker) else {
            break;
        };
        if !before.is_empty() {
            out.push(roman(before));
        }
        let inner = after.get(..end).unwrap_or_default();
        out.push(if kind == 0 {
            bold(inner)
        } else {
            italic(inner)
        });
        rest = after.get(end + marker.len()..).unwrap_or_default();
    }
    if !rest.is_empty() {
        out.push(roman(rest));
    }
    out
}

/// A man page reference: `name(section)` with the name in bold.
pub fn see(name: &str, section: &str) -> Vec<Inline> {
    vec![bold(name), roman(format!("({section})"))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_makes_bold_and_italic_and_leaves_the_rest() {
        assert_eq!(
            markup("run **ticketgate reset** __USER__ now"),
            vec![
                roman("run "),
                bold("ticketgate reset"),
                roman(" "),
                italic("USER"),
                roman(" now")
            ]
        );
        assert_eq!(markup("state_dir a*b"), vec![roman("state_dir a*b")]);
        assert_eq!(markup("**open"), vec![roman("**open")]);
        assert_eq!(
            markup("until `ticketgate unlock` runs"),
            vec![roman("until "), bold("ticketgate unlock"), roman(" runs")]
        );
    }

    #[test]
    fn a_page_has_one_preamble_and_its_title() {
        let mut p = Page::new("x", "8");
        p.sh("NAME").text("x - y");
        p.raw(&Roff::new().control("SH", ["MORE"]).render());
        let text = p.finish();
        assert_eq!(text.matches(".ds Aq").count(), 2, "{text}"); // .ie and .el, once
        assert!(text.contains(".TH x 8 \"\" \"pam_ticketgate "), "{text}");
        assert!(text.contains(".SH MORE"));
    }
}
