//! `cairn watch DIR…` and `cairn serve --watch DIR`: folders kept in sync with a knowledge
//! base as files change.
//!
//! File-system events (`notify`: inotify on Linux) only say *that* something changed. Each
//! burst is debounced (a quiet period with no event), its files are reported as queued,
//! then one reconcile pass ([`cairn_engine::sync::FolderSync`]) brings the store to the
//! folders' state and every file's outcome is printed: ingested, failed and why, or
//! removed. An overflowed event queue loses nothing, since the pass looks at the folders,
//! not at the events.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cairn_engine::sync::{FolderSync, SyncEvent};
use notify::{RecursiveMode, Watcher};

/// One line per event.
pub fn report(events: &[SyncEvent], out: &mut impl Write) -> std::io::Result<()> {
    for e in events {
        match e {
            SyncEvent::Ingested { path, key, version } => {
                writeln!(out, "ingested  {key} (version {version})  {}", path.display())?
            }
            SyncEvent::Failed { path, error } => writeln!(out, "failed    {}: {error}", path.display())?,
            SyncEvent::Removed { path, key, retired } => {
                writeln!(out, "removed   {key} ({retired} IDs retired)  {}", path.display())?
            }
        }
    }
    Ok(())
}

/// Watches `sync`'s folders until the process is stopped, running `pass` after each
/// debounced burst (and once at the start). `pass` runs one reconcile against the
/// knowledge base, however the caller holds it.
pub fn watch(
    sync: &mut FolderSync,
    debounce: Duration,
    mut pass: impl FnMut(&mut FolderSync) -> Result<Vec<SyncEvent>>,
    out: &mut impl Write,
) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        // The receiver outlives the watcher; a send error means shutdown.
        let _ = tx.send(event);
    })
    .context("starting the file watcher")?;
    for dir in sync.dirs().to_vec() {
        watcher.watch(&dir, RecursiveMode::Recursive).with_context(|| format!("watching {}", dir.display()))?;
    }
    let dirs: Vec<String> = sync.dirs().iter().map(|d| d.display().to_string()).collect();
    writeln!(out, "watching {} (debounce {} ms); Ctrl-C stops", dirs.join(", "), debounce.as_millis())?;
    run_pass(sync, &mut pass, out)?;
    loop {
        let Ok(first) = rx.recv() else { return Ok(()) };
        let mut queued: BTreeSet<PathBuf> = BTreeSet::new();
        let note = |event: notify::Result<notify::Event>, queued: &mut BTreeSet<PathBuf>| match event {
            Ok(e) => queued.extend(e.paths.into_iter().filter(|p| is_document(p))),
            Err(e) => tracing::warn!(error = %e, "file watcher error; the next pass rescans the folders"),
        };
        note(first, &mut queued);
        // Debounce: keep collecting until the folders are quiet for `debounce`.
        loop {
            match rx.recv_timeout(debounce) {
                Ok(e) => note(e, &mut queued),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
        for p in &queued {
            writeln!(out, "queued    {}", p.display())?;
        }
        run_pass(sync, &mut pass, out)?;
    }
}

fn run_pass(
    sync: &mut FolderSync,
    pass: &mut impl FnMut(&mut FolderSync) -> Result<Vec<SyncEvent>>,
    out: &mut impl Write,
) -> Result<()> {
    let started = Instant::now();
    match pass(sync) {
        Ok(events) => {
            report(&events, out)?;
            let count = |f: fn(&SyncEvent) -> bool| events.iter().filter(|e| f(e)).count();
            writeln!(
                out,
                "synced    {} ingested, {} removed, {} failed in {} ms",
                count(|e| matches!(e, SyncEvent::Ingested { .. })),
                count(|e| matches!(e, SyncEvent::Removed { .. })),
                count(|e| matches!(e, SyncEvent::Failed { .. })),
                started.elapsed().as_millis()
            )?;
        }
        // A pass that fails as a whole (the store went away) is reported; the next burst
        // tries again.
        Err(e) => writeln!(out, "failed    sync pass: {e:#}")?,
    }
    out.flush()?;
    Ok(())
}

/// Whether a changed path is one the pass reads (hidden files and unsupported types are
/// not queued).
fn is_document(p: &std::path::Path) -> bool {
    let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') || n.starts_with("~$"));
    !hidden && cairn_ingest::Format::is_supported_path(p)
}
