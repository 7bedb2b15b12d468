//! Cooperative cancellation: the deadline of the request a thread is working for.
//!
//! Engine work is blocking (SQLite, parsing, navigation, graph queries) and runs on
//! threads that nothing can interrupt from outside. So the work itself looks at its
//! deadline at checkpoints, with [`check`], and stops with [`Expired`] once the deadline
//! has passed or the work was cancelled (a server shutting down).
//!
//! The deadline is *ambient*: [`scope`] installs it for the current thread, as a tracing
//! span is, and every checkpoint below reads it. Threading a token through every engine
//! signature would touch each seam for a concern that only the outermost caller (the
//! server, a CLI with `--timeout`) decides. A thread with no scope never expires, so
//! library users and tests pay one thread-local read per checkpoint and nothing else.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use cairn_core::deadline::{self, Deadline};
//!
//! let past = Deadline::at(Instant::now() - Duration::from_millis(1));
//! let outcome = deadline::scope(past, || deadline::check());
//! assert!(outcome.is_err());
//! assert!(deadline::check().is_ok(), "outside the scope nothing expires");
//! ```

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Why work stopped at a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Expired {
    /// The request's deadline passed.
    #[error("the work ran past its deadline and was stopped")]
    DeadlinePassed,
    /// The work was cancelled (the server is shutting down).
    #[error("the work was cancelled (the server is shutting down)")]
    Cancelled,
}

/// A point in time after which work stops, and a flag that stops it sooner.
///
/// Clones share the flag: [`Deadline::cancel`] on one stops the work of all.
#[derive(Debug, Clone, Default)]
pub struct Deadline {
    at: Option<Instant>,
    cancelled: Arc<AtomicBool>,
}

impl Deadline {
    /// No deadline: only [`Deadline::cancel`] stops the work.
    pub fn none() -> Self {
        Deadline::default()
    }

    /// Work stops once `at` has passed.
    pub fn at(at: Instant) -> Self {
        Deadline { at: Some(at), cancelled: Arc::default() }
    }

    /// The same deadline, also stopped when `other` is cancelled (a request's deadline
    /// under the server's shutdown flag).
    pub fn with_cancel_of(mut self, other: &Deadline) -> Self {
        self.cancelled = Arc::clone(&other.cancelled);
        self
    }

    /// When the work must stop, if ever.
    pub fn instant(&self) -> Option<Instant> {
        self.at
    }

    /// Stops all work under this deadline (and its clones) at its next checkpoint.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether the work must stop now.
    pub fn check(&self) -> Result<(), Expired> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Expired::Cancelled);
        }
        match self.at {
            Some(at) if Instant::now() >= at => Err(Expired::DeadlinePassed),
            _ => Ok(()),
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Deadline>> = const { RefCell::new(None) };
}

/// Runs `work` with `deadline` as this thread's deadline; the previous one (if any) is
/// back afterwards, also when `work` panics. A nested scope never extends an outer one:
/// the sooner deadline wins.
pub fn scope<T>(deadline: Deadline, work: impl FnOnce() -> T) -> T {
    let _guard = ScopeGuard::enter(deadline);
    work()
}

/// [`scope`] as a guard, for work that is not one closure: the deadline holds on this
/// thread until the guard is dropped.
#[derive(Debug)]
#[must_use = "the deadline holds only while the guard lives"]
pub struct ScopeGuard {
    previous: Option<Deadline>,
}

impl ScopeGuard {
    /// Installs `deadline` (or the outer one, when that is sooner) on this thread.
    pub fn enter(deadline: Deadline) -> ScopeGuard {
        let previous = CURRENT.with(|c| c.borrow().clone());
        let outer = previous.as_ref().and_then(|p| p.at);
        let at = match (outer, deadline.at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let effective = Deadline { at, cancelled: deadline.cancelled };
        CURRENT.with(|c| *c.borrow_mut() = Some(effective));
        ScopeGuard { previous }
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The current thread's deadline, to hand to a helper thread (which then runs under
/// [`scope`] itself).
pub fn current() -> Option<Deadline> {
    CURRENT.with(|c| c.borrow().clone())
}

/// A checkpoint: `Err` once the current thread's deadline has passed or its work was
/// cancelled. Without a scope, always `Ok`.
pub fn check() -> Result<(), Expired> {
    CURRENT.with(|c| c.borrow().as_ref().map_or(Ok(()), Deadline::check))
}

/// A checkpoint for tight loops: looks at the clock only on every 1,024th call of
/// `counter` (which the loop owns).
pub fn check_every(counter: &mut u32) -> Result<(), Expired> {
    *counter = counter.wrapping_add(1);
    if *counter & 1023 == 0 { check() } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn no_scope_never_expires() {
        assert_eq!(check(), Ok(()));
    }

    #[test]
    fn a_passed_deadline_expires_inside_its_scope_only() {
        let past = Deadline::at(Instant::now() - Duration::from_millis(1));
        assert_eq!(scope(past, check), Err(Expired::DeadlinePassed));
        assert_eq!(check(), Ok(()));
        let future = Deadline::at(Instant::now() + Duration::from_secs(60));
        assert_eq!(scope(future, check), Ok(()));
    }

    #[test]
    fn cancel_reaches_every_clone_and_derived_deadline() {
        let server = Deadline::none();
        let request = Deadline::at(Instant::now() + Duration::from_secs(60)).with_cancel_of(&server);
        let copy = request.clone();
        assert_eq!(scope(copy.clone(), check), Ok(()));
        server.cancel();
        assert_eq!(scope(copy, check), Err(Expired::Cancelled));
    }

    #[test]
    fn nested_scopes_keep_the_sooner_deadline_and_restore_after_a_panic() {
        let soon = Deadline::at(Instant::now() - Duration::from_millis(1));
        let later = Deadline::at(Instant::now() + Duration::from_secs(60));
        assert_eq!(scope(soon, || scope(later.clone(), check)), Err(Expired::DeadlinePassed));
        let caught = std::panic::catch_unwind(|| {
            scope(Deadline::at(Instant::now() - Duration::from_millis(1)), || panic!("inside"));
        });
        assert!(caught.is_err());
        assert_eq!(check(), Ok(()), "the panicking scope was undone");
    }

    #[test]
    fn check_every_looks_at_the_clock_every_1024_calls() {
        let past = Deadline::at(Instant::now() - Duration::from_millis(1));
        scope(past, || {
            let mut counter = 0u32;
            let first_err = (1..=2048).find(|_| check_every(&mut counter).is_err());
            assert_eq!(first_err, Some(1024));
        });
    }
}
