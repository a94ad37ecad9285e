//! Test-only helpers shared by the unit tests.

/// True, with a line on stderr saying why, when the test is not run by root: it checks the
/// real file code (fs-trust refuses files not root's, and some tests chown). Every other unit
/// test runs unprivileged, on the gate's in-memory fakes (`scripts/test-unprivileged.sh`).
pub(crate) fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    eprintln!("skipped (needs root: real root-owned files): {test}");
    true
}

/// Returns from the test, saying so, unless it runs as root.
macro_rules! needs_root {
    ($name:literal) => {
        if $crate::test_support::skip_unless_root(concat!(module_path!(), "::", $name)) {
            return;
        }
    };
}
pub(crate) use needs_root;
