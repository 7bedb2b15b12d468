//! Failpoints: named places where a test can stop the process at a deterministic moment.
//!
//! Only binaries configure failpoints (from `CAIRN_FAILPOINT`); libraries merely mark the
//! places with [`hit`]. A place that is not configured costs one atomic load.
//!
//! Actions:
//! * `pause`: print `cairn: failpoint NAME reached` to stderr and sleep until killed. The
//!   crash test waits for that line and then sends a real `kill -9`.
//! * `abort`: abort the process on the spot.

use std::sync::OnceLock;

/// What to do when a configured failpoint is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sleep until killed.
    Pause,
    /// Abort the process.
    Abort,
}

static CONFIG: OnceLock<Vec<(String, Action)>> = OnceLock::new();

/// Configures failpoints from a spec such as `store.ingest.mid_write=pause`. Several
/// entries may be separated by `;`. Unknown actions are ignored. Only the first call has
/// an effect; returns the parsed entries.
pub fn configure(spec: &str) -> &'static [(String, Action)] {
    CONFIG.get_or_init(|| {
        spec.split(';')
            .filter_map(|entry| {
                let (name, action) = entry.split_once('=')?;
                let action = match action.trim() {
                    "pause" => Action::Pause,
                    "abort" => Action::Abort,
                    _ => return None,
                };
                Some((name.trim().to_owned(), action))
            })
            .collect()
    })
}

/// Marks failpoint `name`.
pub fn hit(name: &str) {
    let Some(config) = CONFIG.get() else { return };
    let Some((_, action)) = config.iter().find(|(n, _)| n == name) else {
        return;
    };
    match action {
        Action::Pause => {
            eprintln!("cairn: failpoint {name} reached");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        Action::Abort => std::process::abort(),
    }
}
