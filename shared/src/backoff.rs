//! Trying again, the one way every loop here does it: after an optimistic update lost its
//! race (read, decide, write on the version read: an alert, a webhook), and after DynamoDB
//! left part of a batch call unprocessed.

use std::time::Duration;

/// How many tries, and the pause before each after the first: `base`, doubled each time
/// up to `max`, plus up to `jitter` drawn at random, so that writers racing on one item
/// fall out of step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub tries: u32,
    pub base: Duration,
    pub max: Duration,
    pub jitter: Duration,
}

impl Backoff {
    /// Writers racing on one item: short pauses, many tries.
    pub const RACE: Backoff = Backoff {
        tries: 8,
        base: Duration::from_millis(10),
        max: Duration::from_millis(160),
        jitter: Duration::from_millis(20),
    };

    /// What a batch call left unprocessed: DynamoDB asks for an exponential backoff.
    pub const BATCH: Backoff = Backoff {
        tries: 5,
        base: Duration::from_millis(100),
        max: Duration::from_millis(3200),
        jitter: Duration::ZERO,
    };

    /// The pause before try number `try_number` (0 is the first, with none); `draw`, in
    /// [0, 1), picks the jitter.
    pub fn pause(&self, try_number: u32, draw: f64) -> Duration {
        if try_number == 0 {
            return Duration::ZERO;
        }
        let doubled = self
            .base
            .saturating_mul(1 << (try_number - 1).min(16))
            .min(self.max);
        doubled + self.jitter.mul_f64(draw.clamp(0.0, 1.0))
    }

    /// The tries of one loop, each after its pause:
    /// `let mut tries = Backoff::RACE.start(); while tries.next().await { ... }`, and
    /// what follows the loop is the answer once the tries are spent.
    pub fn start(self) -> Tries {
        Tries {
            backoff: self,
            made: 0,
        }
    }
}

/// A loop's tries so far (see [`Backoff::start`]).
#[derive(Debug)]
pub struct Tries {
    backoff: Backoff,
    made: u32,
}

impl Tries {
    /// Waits out the pause before the next try, if there is one, and says whether there is.
    pub async fn next(&mut self) -> bool {
        if self.made >= self.backoff.tries {
            return false;
        }
        tokio::time::sleep(self.backoff.pause(self.made, rand::random::<f64>())).await;
        self.made += 1;
        true
    }

    /// Tries made so far.
    pub fn made(&self) -> u32 {
        self.made
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_try_waits_for_nothing_then_pauses_double_up_to_the_cap() {
        let b = Backoff::BATCH;
        let pauses: Vec<u64> = (0..8).map(|n| b.pause(n, 0.0).as_millis() as u64).collect();
        assert_eq!(pauses, [0, 100, 200, 400, 800, 1600, 3200, 3200]);
        assert_eq!(b.pause(40, 0.0), b.max, "a late try does not overflow");
    }

    #[test]
    fn jitter_adds_at_most_its_bound() {
        let r = Backoff::RACE;
        for draw in [0.0, 0.25, 0.999_999, 7.0, -1.0] {
            let pause = r.pause(1, draw);
            assert!(
                pause >= r.base && pause <= r.base + r.jitter,
                "{draw}: {pause:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_gets_its_tries_each_after_its_pause() {
        let backoff = Backoff::BATCH;
        let started = tokio::time::Instant::now();
        let mut tries = backoff.start();
        let mut waited = Vec::new();
        while tries.next().await {
            waited.push(started.elapsed().as_millis() as u64);
        }
        assert_eq!(tries.made(), backoff.tries);
        assert_eq!(
            waited,
            [0, 100, 300, 700, 1500],
            "the pauses add up, none before the first"
        );
        assert!(!tries.next().await, "spent tries stay spent");
    }
}
