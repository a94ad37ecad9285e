//! Link flags for the PAM module.

fn main() {
    // Keep the module mapped once loaded (RTLD_NODELETE semantics). libpam dlopens and dlcloses
    // modules for every pam_start/pam_end; unloading a Rust cdylib that registered thread-local
    // destructors is unsafe, and re-mapping and relocating it on every transaction costs far more
    // than the hooks themselves in long-running PAM clients (login managers, sudo in loops, tests).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
