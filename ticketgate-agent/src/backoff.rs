//! How long the agent waits before its next poll: the interval (or the longer one the server
//! asks for, up to ten times its own), doubled after each failed poll up to ten times the
//! interval, always jittered by up to 10 % either way so a fleet of agents does not poll in step.

use std::time::Duration;

/// The longest wait, as a multiple of the configured interval.
pub const CAP: u32 = 10;

/// The wait before the next poll. `failures` is the number of polls in a row that found the
/// server unreachable (0 after a success); `server` the interval the server last asked for;
/// `unit` a random number in [0, 1) that places the wait within ±10 %.
pub fn next_wait(
    interval: Duration,
    server: Option<Duration>,
    failures: u32,
    unit: f64,
) -> Duration {
    let cap = interval.saturating_mul(CAP);
    let base = if failures == 0 {
        // Never more often than our own interval; a longer one from the server, up to the cap.
        server.map_or(interval, |s| s.clamp(interval, cap))
    } else {
        let factor = 1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX);
        interval.saturating_mul(factor).min(cap)
    };
    jitter(base, unit)
}

/// `base` scaled by a factor in [0.9, 1.1) chosen by `unit` (clamped into [0, 1)).
pub fn jitter(base: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 0.999_999)
    } else {
        0.5
    };
    base.mul_f64(0.9 + 0.2 * unit)
}

/// A random number in [0, 1) from the OS (0.5, no jitter, when it gives none).
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn success_waits_the_interval_within_ten_percent() {
        assert_eq!(next_wait(MIN, None, 0, 0.0), Duration::from_secs(54));
        assert_eq!(next_wait(MIN, None, 0, 0.5), Duration::from_secs(60));
        let high = next_wait(MIN, None, 0, 0.999_999_9);
        assert!(
            high < Duration::from_secs(66) && high > Duration::from_secs(65),
            "{high:?}"
        );
    }

    #[test]
    fn failures_double_the_wait_up_to_ten_intervals() {
        let waits: Vec<u64> = (1..=8)
            .map(|f| next_wait(MIN, None, f, 0.5).as_secs())
            .collect();
        assert_eq!(waits, [120, 240, 480, 600, 600, 600, 600, 600]);
        // Jittered at the cap too, never past 11 intervals.
        assert_eq!(next_wait(MIN, None, 40, 0.0), Duration::from_secs(540));
        assert!(next_wait(MIN, None, u32::MAX, 0.999) <= Duration::from_secs(660));
    }

    #[test]
    fn a_success_resets_the_schedule() {
        assert_eq!(next_wait(MIN, None, 5, 0.5), Duration::from_secs(600));
        assert_eq!(next_wait(MIN, None, 0, 0.5), Duration::from_secs(60));
    }

    #[test]
    fn the_server_can_slow_the_agent_down_but_not_speed_it_up() {
        let s = |secs| Some(Duration::from_secs(secs));
        assert_eq!(next_wait(MIN, s(1), 0, 0.5), MIN);
        assert_eq!(next_wait(MIN, s(300), 0, 0.5), Duration::from_secs(300));
        assert_eq!(next_wait(MIN, s(86_400), 0, 0.5), Duration::from_secs(600));
    }

    #[test]
    fn hostile_randomness_stays_in_bounds() {
        for unit in [f64::NAN, f64::INFINITY, -1.0, 2.0] {
            let w = next_wait(MIN, None, 0, unit);
            assert!(
                w >= Duration::from_secs(54) && w < Duration::from_secs(66),
                "{unit}: {w:?}"
            );
        }
        let r = random_unit();
        assert!((0.0..1.0).contains(&r));
    }
}
