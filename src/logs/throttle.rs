//! Repeated identical warnings are written once per window: a flood of bad requests must not
//! grow the log without bound. The first line of a key passes; identical ones within
//! [`WINDOW`] of it are counted, and the next one after the window carries the count.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// Keys remembered at most; past it, stale keys are dropped, and if none is stale lines pass.
const MAX_KEYS: usize = 4096;

#[derive(Default)]
pub(crate) struct Throttle {
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write it; `suppressed` identical lines were left out before it.
    Write {
        suppressed: u64,
    },
    Suppress,
}

impl Throttle {
    pub(crate) fn check(&self, key: &str, now: Instant) -> Verdict {
        let mut seen = self.seen.lock();
        if let Some((since, count)) = seen.get_mut(key) {
            if now.duration_since(*since) < WINDOW {
                *count += 1;
                return Verdict::Suppress;
            }
            let suppressed = std::mem::take(count);
            *since = now;
            return Verdict::Write { suppressed };
        }
        if seen.len() >= MAX_KEYS {
            seen.retain(|_, (since, count)| now.duration_since(*since) < WINDOW || *count > 0);
            if seen.len() >= MAX_KEYS {
                return Verdict::Write { suppressed: 0 };
            }
        }
        seen.insert(key.to_owned(), (now, 0));
        Verdict::Write { suppressed: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_lines_pass_once_per_window_with_the_count() {
        let t = Throttle::default();
        let t0 = Instant::now();
        assert_eq!(t.check("a", t0), Verdict::Write { suppressed: 0 });
        for i in 1..=5 {
            assert_eq!(
                t.check("a", t0 + Duration::from_millis(i)),
                Verdict::Suppress
            );
        }
        assert_eq!(
            t.check("b", t0),
            Verdict::Write { suppressed: 0 },
            "another key"
        );
        assert_eq!(t.check("a", t0 + WINDOW), Verdict::Write { suppressed: 5 });
        assert_eq!(
            t.check("a", t0 + WINDOW * 3),
            Verdict::Write { suppressed: 0 }
        );
    }
}
