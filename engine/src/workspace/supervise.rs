//! Restart policy for account actors: exponential backoff, at most `restart_max` restarts within
//! `restart_window`; past that the account is marked degraded and left stopped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What to do after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart after this backoff; this is the n-th restart.
    Restart {
        /// Wait before restarting.
        after: Duration,
        /// Restarts so far, this one included.
        num_restarts: u32,
    },
    /// Too many crashes: stop trying.
    Degrade,
}

/// One account's crash history.
#[derive(Debug, Default, Clone)]
pub struct RestartLog {
    recent: VecDeque<Instant>,
    /// Total restarts since the engine started.
    pub total: u32,
    /// Whether the account was given up on.
    pub degraded: bool,
}

impl RestartLog {
    /// Records a crash at `now` and decides.
    pub fn on_crash(
        &mut self,
        now: Instant,
        max: u32,
        window: Duration,
        backoff: Duration,
    ) -> RestartDecision {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= max {
            self.degraded = true;
            return RestartDecision::Degrade;
        }
        self.recent.push_back(now);
        self.total += 1;
        let exp = (self.recent.len() as u32).saturating_sub(1).min(10);
        RestartDecision::Restart {
            after: backoff.saturating_mul(1 << exp),
            num_restarts: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_restarts_back_off_then_degrade() {
        let mut log = RestartLog::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        let b = Duration::from_millis(10);
        let mut afters = vec![];
        for _ in 0..3 {
            match log.on_crash(t0, 3, w, b) {
                RestartDecision::Restart { after, .. } => afters.push(after),
                RestartDecision::Degrade => panic!("degraded too early"),
            }
        }
        assert!(afters.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(log.on_crash(t0, 3, w, b), RestartDecision::Degrade);
        assert!(log.degraded);
    }
}
