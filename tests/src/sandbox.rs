//! The "container" users test in: a private mount namespace (`unshare -m`) in which a temporary
//! copy of `/etc` is bound over `/etc`: its own `pam.d`, and `passwd`, `shadow`, `group` that add
//! a throwaway user with a known password. A whole directory (not single files) is bound so that
//! tools that replace files by rename (`pam_unix` changing a password, `passwd`) work. Nothing on
//! the host changes.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// The throwaway user every sandbox adds.
pub const USER: &str = "tguser";
pub const PASSWORD: &str = "Tr0ub4dor&3-horse";
pub const UID: u32 = 4242;
/// A supplementary group the throwaway user is a member of.
pub const GROUP: &str = "tgadmins";

pub struct Sandbox {
    dir: tempfile::TempDir,
    /// What arrived at `<dir>/dev/log` (the namespace's `/dev/log`), drained by a thread the way
    /// a syslog daemon does: glibc's syslog() in pam_unix blocks when nobody reads.
    syslog: Arc<Mutex<Vec<String>>>,
}

/// Device nodes the sandboxed `/dev` keeps (bound from the host's).
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

impl Sandbox {
    /// A sandbox whose config is `config_body` with `state_dir` and `audit_file` pointed inside it.
    pub fn new(config_body: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(dir.path().join("dev")).unwrap();
        for node in DEV_NODES {
            std::fs::write(dir.path().join("dev").join(node), "").unwrap();
        }
        let socket = UnixDatagram::bind(dir.path().join("dev/log")).unwrap();
        let syslog = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::downgrade(&syslog);
        // Ends when the sandbox is dropped (the socket file goes with the temp dir; the read
        // timeout lets the thread notice).
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let got = socket.recv(&mut buf);
                let Some(lines) = sink.upgrade() else { return };
                if let Ok(n) = got {
                    let msg =
                        String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
                    lines.lock().unwrap().push(msg);
                }
            }
        });
        let s = Sandbox { dir, syslog };
        let copied = Command::new("cp")
            .args(["-a", "/etc"])
            .arg(s.path("etc"))
            .status();
        assert!(
            copied.is_ok_and(|c| c.success()),
            "could not copy /etc into the sandbox"
        );
        s.service("other", "auth required pam_deny.so\naccount required pam_deny.so\npassword required pam_deny.so\nsession required pam_deny.so\n");
        let hash = password_hash(PASSWORD);
        let add = |file: &str, line: String| {
            let mut text = std::fs::read_to_string(format!("/etc/{file}")).unwrap();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
            std::fs::write(s.path("etc").join(file), text).unwrap();
        };
        add(
            "passwd",
            format!("{USER}:x:{UID}:{UID}:Throwaway Tester,R1,555-0100,,:/nonexistent:/bin/sh\n"),
        );
        add("shadow", format!("{USER}:{hash}:19000:0:99999:7:::\n"));
        // A supplementary group, for group-scoped tests.
        add(
            "group",
            format!("{USER}:x:{UID}:\n{GROUP}:x:{}:{USER}\n", UID + 1),
        );
        std::fs::set_permissions(s.path("etc/shadow"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        s.write_config(config_body);
        s
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config(&self) -> PathBuf {
        self.path("ticketgate.toml")
    }

    pub fn audit_file(&self) -> PathBuf {
        self.path("audit.jsonl")
    }

    /// (Re)writes the config: `[module]` with this sandbox's state dir and audit file, then `body`.
    pub fn write_config(&self, body: &str) {
        let text = format!(
            "version = 1\n[module]\nstate_dir = \"{}\"\nrun_dir = \"{}\"\naudit_file = \"{}\"\nfail_delay = \"0s\"\n{body}",
            self.path("state").display(),
            self.path("run").display(),
            self.audit_file().display()
        );
        std::fs::write(self.config(), text).unwrap();
        std::fs::set_permissions(self.config(), std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// Writes `/etc/pam.d/<name>` (inside the sandbox) from stack lines.
    pub fn service(&self, name: &str, lines: &str) {
        std::fs::write(self.path("etc/pam.d").join(name), lines).unwrap();
    }

    /// The docs/design.md §2 lockout stack with real pam_unix (nodelay: the module's own fail_delay rules).
    pub fn lockout_stack(&self, name: &str) {
        let so = crate::module_so();
        let cfg = self.config();
        let (so, cfg) = (so.display(), cfg.display());
        self.service(
            name,
            &format!(
                "auth     requisite                  {so} preauth config={cfg}\n\
                 auth     [success=1 default=ignore] pam_unix.so nullok nodelay\n\
                 auth     [default=die]              {so} authfail config={cfg}\n\
                 auth     requisite                  {so} ticket config={cfg}\n\
                 account  required                   {so} config={cfg}\n\
                 account  required                   pam_unix.so\n\
                 password required                   pam_permit.so\n\
                 session  optional                   {so} config={cfg}\n"
            ),
        );
    }

    /// Installs the shipped example `conf/pam.d/<name>` (Debian's file with the gate lines) as
    /// this sandbox's `/etc/pam.d/<name>`, naming the freshly built module and this sandbox's
    /// config: the administrator's file, run exactly as written otherwise.
    pub fn example_stack(&self, name: &str) {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conf/pam.d")
            .join(name);
        let text = std::fs::read_to_string(&example)
            .unwrap_or_else(|e| panic!("{}: {e}", example.display()));
        let module = format!(
            "{} config={}",
            crate::module_so().display(),
            self.config().display()
        );
        let lines: String = text
            .lines()
            .map(|l| {
                let l = if l.trim_start().starts_with('#') {
                    l.to_string()
                } else {
                    l.replace("pam_ticketgate.so", &module)
                };
                l + "\n"
            })
            .collect();
        assert!(lines.contains(&module), "{name} names pam_ticketgate.so");
        self.service(name, &lines);
    }

    /// Debian's `common-*` as `pam-auth-update` writes them with the three ticketgate profiles
    /// enabled, in this sandbox's `/etc/pam.d` (the host's profiles plus `conf/pam-configs`,
    /// bound over `/usr/share/pam-configs`; `/var/lib/pam` and debconf's cache are private
    /// copies, so nothing of the host's changes and sandboxes do not share locks), then the module
    /// named by its built path and this sandbox's config, as [`Self::example_stack`] does.
    pub fn debian_common_stacks(&self) {
        let profiles = self.path("pam-configs");
        let seen = self.path("var-lib-pam");
        let debconf = self.path("debconf-cache");
        for (from, to) in [
            ("/usr/share/pam-configs", &profiles),
            ("/var/lib/pam", &seen),
            ("/var/cache/debconf", &debconf),
        ] {
            let copied = Command::new("cp").args(["-a", from]).arg(to).status();
            assert!(copied.is_ok_and(|c| c.success()), "copy {from}");
        }
        let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/pam-configs");
        for entry in std::fs::read_dir(&ours).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), profiles.join(entry.file_name())).unwrap();
        }
        let script = format!(
            "mount --bind {} /usr/share/pam-configs && mount --bind {} /var/lib/pam && \
             mount --bind {} /var/cache/debconf && DEBIAN_FRONTEND=noninteractive \
             pam-auth-update --package --enable ticketgate ticketgate-preauth ticketgate-authfail",
            profiles.display(),
            seen.display(),
            debconf.display()
        );
        let out = self.run(&["sh", "-c", &script], "");
        assert!(out.status.success(), "pam-auth-update: {}", text(&out));
        let module = format!(
            "{} config={}",
            crate::module_so().display(),
            self.config().display()
        );
        for file in [
            "common-auth",
            "common-account",
            "common-password",
            "common-session",
        ] {
            let path = self.path("etc/pam.d").join(file);
            let stack = std::fs::read_to_string(&path).unwrap();
            assert!(stack.contains("pam_ticketgate.so"), "{file}: {stack}");
            std::fs::write(&path, stack.replace("pam_ticketgate.so", &module)).unwrap();
        }
    }

    /// Runs `argv` inside a private mount namespace with this sandbox's files bound over /etc.
    pub fn run(&self, argv: &[&str], stdin: &str) -> Output {
        let out = crate::run_with_input(
            &mut self.command(argv),
            stdin,
            "unshare (util-linux; root needed for mount namespaces)",
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("unshare failed") && !err.contains("mount: "),
            "the sandbox could not be set up (run as root): {err}"
        );
        out
    }

    /// The command (not started) for `argv` inside the sandbox.
    pub fn command(&self, argv: &[&str]) -> Command {
        let d = self.dir.path().display();
        let nodes: String = DEV_NODES
            .iter()
            .map(|n| format!("mount --bind /dev/{n} {d}/dev/{n} && "))
            .collect();
        let setup = format!(
            "{nodes}mount --rbind {d}/dev /dev && \
             mount --bind {d}/etc /etc && exec \"$@\""
        );
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c", &setup, "sh"])
            .args(argv);
        c
    }

    /// `pamtester -v <service> <user> <ops...>` with `stdin` as what the user types.
    pub fn pamtester(&self, service: &str, user: &str, ops: &[&str], stdin: &str) -> Output {
        let mut argv = vec!["pamtester", "-v", service, user];
        argv.extend_from_slice(ops);
        self.run(&argv, stdin)
    }

    /// `ticketgate --config <this sandbox's config> <args>` inside the sandbox.
    pub fn ticketgate(&self, args: &[&str]) -> Output {
        let bin = crate::ticketgate_bin();
        let cfg = self.config();
        let mut argv = vec![bin.to_str().unwrap(), "--config", cfg.to_str().unwrap()];
        argv.extend_from_slice(args);
        self.run(&argv, "")
    }

    /// pam_ticketgate's syslog messages since the last call (the text after its `pam_ticketgate[pid]: ` tag).
    pub fn syslog_lines(&self) -> Vec<String> {
        self.syslog_of("pam_ticketgate")
    }

    /// The syslog messages of the program logging as `ident` since the last call of either
    /// (the text after its `ident[pid]: ` tag); the others' are dropped.
    pub fn syslog_of(&self, ident: &str) -> Vec<String> {
        // Give datagrams already sent a moment to be read off the socket.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let all = std::mem::take(&mut *self.syslog.lock().unwrap());
        all.iter()
            .filter_map(|msg| {
                msg.split_once(&format!("{ident}["))
                    .and_then(|(_, rest)| rest.split_once("]: "))
            })
            .map(|(_, m)| m.to_string())
            .collect()
    }

    pub fn events(&self) -> Vec<serde_json::Value> {
        crate::read_events(&self.audit_file())
    }
}

/// A SHA-512 crypt hash, as `openssl passwd -6` makes it (pam_unix verifies any crypt scheme).
pub fn password_hash(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{password}\n").as_bytes())?;
            c.wait_with_output()
        });
    let out = out.unwrap_or_else(|e| panic!("openssl not found (install openssl): {e}"));
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Output as text, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
