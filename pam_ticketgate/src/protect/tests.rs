use std::cell::{Cell, RefCell};

use super::*;

/// A scripted server: hands out the queued answers in order and counts calls.
struct Script {
    answers: RefCell<Vec<Result<bool, NetError>>>,
    calls: Cell<usize>,
}

impl Script {
    fn new(mut answers: Vec<Result<bool, NetError>>) -> Self {
        answers.reverse();
        Self {
            answers: RefCell::new(answers),
            calls: Cell::new(0),
        }
    }
}

impl ProtectServer for Script {
    fn attempt(&self, _: &Attempt) -> Result<bool, NetError> {
        self.calls.set(self.calls.get() + 1);
        self.answers.borrow_mut().pop().unwrap()
    }
    fn probe(&self, a: &Attempt) -> Result<bool, NetError> {
        self.attempt(a)
    }
}

const A: Attempt = Attempt {
    service_id: "web-prod-01",
    user: "alice",
    host: "db01",
    service: "sshd",
    rhost: "192.0.2.7",
};

const RETRY: Duration = Duration::from_secs(30);

#[test]
fn unlocked_and_locked_pass_through() {
    let files = crate::run_files::MemRunFiles::default();
    let b = crate::run_files::RunFiles::breaker(&files, BREAKER).unwrap();
    let b = b.as_ref();
    let s = Script::new(vec![Ok(true), Ok(false)]);
    assert_eq!(check(&s, b, RETRY, &A, 100), Check::Unlocked);
    assert_eq!(check(&s, b, RETRY, &A, 100), Check::Locked);
}

#[test]
fn unreachable_trips_the_breaker_for_retry_after_then_asks_again() {
    let files = crate::run_files::MemRunFiles::default();
    let b = crate::run_files::RunFiles::breaker(&files, BREAKER).unwrap();
    let b = b.as_ref();
    let s = Script::new(vec![
        Err(NetError::Unreachable("connection refused".into())),
        Ok(false),
    ]);
    assert!(matches!(check(&s, b, RETRY, &A, 100), Check::Offline(_)));
    assert_eq!(s.calls.get(), 1);
    // Inside retry_after: offline without a request.
    assert!(matches!(check(&s, b, RETRY, &A, 129), Check::Offline(_)));
    assert_eq!(s.calls.get(), 1);
    // After it: the server is asked again, and its answer closes the breaker.
    assert_eq!(check(&s, b, RETRY, &A, 130), Check::Locked);
    assert_eq!(s.calls.get(), 2);
    assert!(!b.is_open(131));
}

#[test]
fn denied_never_falls_back_and_does_not_trip() {
    let files = crate::run_files::MemRunFiles::default();
    let b = crate::run_files::RunFiles::breaker(&files, BREAKER).unwrap();
    let b = b.as_ref();
    let s = Script::new(vec![Err(NetError::Denied("HTTP 401".into()))]);
    assert_eq!(
        check(&s, b, RETRY, &A, 100),
        Check::Denied("HTTP 401".into())
    );
    assert!(!b.is_open(100));
}

#[test]
fn answers_are_read_strictly() {
    assert!(answer_of(br#"{"unlocked":true}"#).unwrap());
    assert!(!answer_of(br#"{"unlocked":false,"extra":1}"#).unwrap());
    for bad in [
        &br#"{"unlocked":"true"}"#[..],
        br#"{"unlocked":1}"#,
        br#"{}"#,
        br#"[true]"#,
        b"",
        b"<html>unlocked</html>",
    ] {
        assert!(
            matches!(answer_of(bad), Err(NetError::Denied(_))),
            "{bad:?}"
        );
    }
}

/// Issue 12 (item 8b): serde_json keeps the last of a repeated key, so
/// `{"unlocked":false,"unlocked":true}` read as unlocked. A repeated key is malformed: deny.
#[test]
fn an_answer_with_a_repeated_key_is_malformed_not_unlocked_issue_12() {
    for body in [
        &br#"{"unlocked":false,"unlocked":true}"#[..],
        br#"{"unlocked":true,"unlocked":true}"#,
        br#"{"unlocked":true,"\u0075nlocked":false}"#,
        br#"{"unlocked":true,"extra":1,"extra":2}"#,
    ] {
        match answer_of(body) {
            Err(NetError::Denied(m)) => assert!(m.contains("duplicate key"), "{m}"),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
}
