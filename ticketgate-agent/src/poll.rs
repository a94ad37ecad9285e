//! One poll: send the results not yet delivered, read the tasks, run each new one that is
//! allowed and not expired (recording its id first), and keep the results for the next poll.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

use pam_ticketgate::audit::{AuditSink, Event, EventName, quoted_user};
use pam_ticketgate::config::{Agent as Settings, Config, read_secret_file};
use pam_ticketgate::net::{Client, NetError, Url};
use pam_ticketgate::store::FileStore;

use crate::ran::{Opened, Ran, RanFile};
use crate::tasks::{self, Host};
use crate::wire::{self, Entry, Status, Task, TaskResult};

/// One deadline for DNS, connect, TLS and the whole answer of a poll.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a poll failed.
#[derive(Debug)]
pub enum PollError {
    /// The server could not be reached (DNS, refused, deadline, 5xx, 429): back off.
    Unreachable(String),
    /// The server refused the request (401, 403, 404, 400, a TLS error).
    Refused(String),
    /// The server's 200 answer is not the protocol's.
    BadAnswer(String),
    /// The configuration or a file it names is unusable (the host token, `ca_file`).
    Config(String),
    /// This host's state could not be used (`state_dir`, the record of tasks run).
    Local(String),
}

impl PollError {
    /// The exit status of `--once`: 1 refused or a bad answer, 3 unreachable, 4 configuration.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Unreachable(_) => 3,
            Self::Config(_) => 4,
            Self::Refused(_) | Self::BadAnswer(_) | Self::Local(_) => 1,
        }
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(m) => write!(f, "poll failed: server unreachable: {m}"),
            Self::Refused(m) => write!(f, "poll failed: request refused: {m}"),
            Self::BadAnswer(m) => write!(f, "poll answer skipped: {m}"),
            Self::Config(m) => write!(f, "configuration: {m}"),
            Self::Local(m) => write!(f, "state: {m}"),
        }
    }
}

/// How far ahead a task's `not_after` may lie: the server's longest (7 days) and an hour of
/// clock difference, well inside the 8 days the record of tasks run keeps an id.
pub const MAX_AHEAD_SECS: i64 = 7 * 86_400 + 3_600;

/// What a poll did.
#[derive(Debug, Default)]
pub struct Polled {
    /// Results made in this poll (new tasks run or refused).
    pub new_results: usize,
    /// Results not yet delivered after this poll.
    pub pending: usize,
    /// The interval the server asked for.
    pub interval: Option<Duration>,
}

/// The agent of this host.
pub struct Agent<'a> {
    pub config: &'a Config,
    pub settings: &'a Settings,
    pub audit: &'a dyn AuditSink,
    /// This host's name as sent (the server goes by the token; the name is only logged).
    pub host: String,
    /// One log line (standard error and syslog).
    pub log: &'a dyn Fn(&str),
    /// The clock (epoch seconds), read again before each task: a poll whose tasks take a while
    /// (terminate waits up to 5 s each) must not run a later one past its `not_after`.
    pub clock: &'a dyn Fn() -> i64,
}

impl Agent<'_> {
    /// The poll endpoint under `[agent] url` (a path prefix is kept).
    pub fn endpoint(&self) -> Url {
        let mut url = self.settings.url.clone();
        let path = format!("{}/v1/agent/poll", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(None);
        url
    }

    /// One poll; with `run_tasks` false only the results go out (the tasks handed out are
    /// left for the next poll).
    pub fn poll(&self, run_tasks: bool) -> Result<Polled, PollError> {
        let now = (self.clock)();
        let state_dir = &self.config.module.state_dir;
        // Creates state_dir (root, 0700) when missing and refuses one others could write.
        FileStore::open(state_dir).map_err(|e| PollError::Local(e.to_string()))?;
        let mut ran = match RanFile::open(state_dir, now) {
            Ok(Opened::Ok(f)) => f,
            Ok(Opened::SetAside { file, aside, why }) => {
                (self.log)(&format!(
                    "the record of tasks run was corrupt ({why}); set aside as {}",
                    aside.display()
                ));
                file
            }
            Err(e) => return Err(PollError::Local(e.to_string())),
        };
        // Oldest first, as many as one request takes; the rest go with the next poll.
        let results = wire::fitting(ran.unsent());
        let token = read_secret_file(
            &self.config.path,
            "agent.secret_file",
            &self.settings.secret_file,
        )
        .map_err(|e| PollError::Config(e.to_string()))?;
        let client = Client::new(TIMEOUT, self.settings.ca_file.as_deref())
            .map_err(|e| PollError::Config(format!("agent.ca_file: {e}")))?;
        let bearer = Zeroizing::new(format!("Bearer {}", token.expose()));
        let answer = client
            .post_json(
                &self.endpoint(),
                &[("Authorization", bearer.as_str())],
                &wire::request(&self.host, &results),
            )
            .map_err(|e| match e {
                NetError::Unreachable(m) => PollError::Unreachable(m),
                NetError::Denied(m) => PollError::Refused(m),
            })?;
        // The body may hold passwords.
        let body = Zeroizing::new(answer.body);
        let answer = wire::parse_answer(&body).map_err(PollError::BadAnswer)?;
        let ids: Vec<String> = results.into_iter().map(|r| r.task_id).collect();
        ran.mark_sent(&ids)
            .map_err(|e| PollError::Local(e.to_string()))?;
        if answer.left_over > 0 {
            (self.log)(&format!(
                "the answer held {} tasks more than the {} read; they come again next poll",
                answer.left_over,
                wire::MAX_TASKS
            ));
        }
        let mut polled = Polled {
            interval: answer.interval,
            ..Polled::default()
        };
        if run_tasks {
            for entry in answer.tasks {
                polled.new_results += self.take(&mut ran, entry, (self.clock)())?;
            }
        }
        polled.pending = ran.unsent().len();
        Ok(polled)
    }

    /// Handles one entry of the answer; returns 1 when it made a new result.
    fn take(&self, ran: &mut RanFile, entry: Entry, now: i64) -> Result<usize, PollError> {
        let local = |e: pam_ticketgate::fsutil::FileError| PollError::Local(e.to_string());
        let (id, kind, user) = match &entry {
            Entry::Unusable(why) => {
                (self.log)(&format!("skipped a task the server sent: {why}"));
                return Ok(0);
            }
            Entry::Bad { id, .. } => (id.clone(), "?".to_string(), String::new()),
            Entry::Task(t) => (t.id.clone(), t.kind.as_str().to_string(), t.user.clone()),
        };
        if let Some(before) = ran.get(&id) {
            if before.status.is_some() {
                (self.log)(&format!(
                    "task {id} was run before; refused to run a replay, its result is sent again"
                ));
                ran.resend(&id).map_err(local)?;
                return Ok(0);
            }
            // Taken on, but the agent stopped before its result: never run twice.
            let result = TaskResult {
                task_id: id.clone(),
                status: Status::Failed,
                detail: "outcome_unknown: the agent stopped while it ran (it may have taken \
                         effect: check the host); not run again"
                    .into(),
            };
            ran.finish(&result).map_err(local)?;
            self.report(&kind, &user, &result, now);
            return Ok(1);
        }
        ran.begin(Ran {
            id: id.clone(),
            kind: kind.clone(),
            user: user.clone(),
            at: now,
            status: None,
            detail: String::new(),
            sent: false,
        })
        .map_err(local)?;
        let (status, detail) = match &entry {
            Entry::Bad { why, .. } => {
                (self.log)(&format!("task {id} is malformed ({why}): refused"));
                (Status::Refused, "bad_task".to_string())
            }
            Entry::Task(task) => self.decide(task, now),
            Entry::Unusable(_) => return Ok(0),
        };
        let result = TaskResult {
            task_id: id,
            status,
            detail: wire::clean_detail(&detail),
        };
        ran.finish(&result).map_err(local)?;
        self.report(&kind, &user, &result, now);
        Ok(1)
    }

    /// Refuses an expired task, one due further ahead than the record of tasks run is kept
    /// (its id could be forgotten while the server still hands it out), or one outside the
    /// allowlist; runs the others.
    fn decide(&self, task: &Task, now: i64) -> (Status, String) {
        // The server hands a task out while now < not_after.
        if now >= task.not_after {
            return (Status::Refused, "expired".into());
        }
        if task.not_after.saturating_sub(now) > MAX_AHEAD_SECS {
            return (Status::Refused, "bad_task".into());
        }
        if !self.settings.tasks.contains(&task.kind) {
            return (Status::Refused, "not_allowed".into());
        }
        let host = Host {
            config: self.config,
            audit: self.audit,
            log: self.log,
        };
        tasks::run(&host, task, now)
    }

    /// One `agent_task` audit event and one log line.
    fn report(&self, kind: &str, user: &str, result: &TaskResult, now: i64) {
        let event = Event::new(EventName::AgentTask, user, tasks::SERVICE, "")
            .with("task_id", &result.task_id)
            .with("kind", kind)
            .with("status", result.status.as_str())
            .with("detail", &result.detail);
        self.audit.event(&event, now);
        (self.log)(&format!(
            "task {} {kind} {}: {} {}",
            result.task_id,
            quoted_user(user),
            result.status.as_str(),
            result.detail
        ));
    }
}
