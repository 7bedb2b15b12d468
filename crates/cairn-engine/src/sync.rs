//! Folders kept in sync with a knowledge base (`cairn watch DIR…`, `cairn serve --watch`).
//!
//! [`FolderSync::sync`] reconciles the store with what the folders hold now: every
//! supported file is ingested (a file whose size and modification time are those of the
//! last pass is not even read; one whose bytes are unchanged stores nothing), and every
//! document ingested from inside a watched folder whose file is gone is removed exactly as
//! `cairn remove` does (its IDs are retired, so old citations explain themselves). Links
//! that lead out of the watched folders are not followed out, and nothing is removed while
//! a watched folder itself is missing. The
//! result depends only on the folders' state, not on the order or number of file events
//! that led to it, so a watcher can coalesce a burst of events into one pass. Watching (the
//! `notify` events and their debouncing) is the binary's; this module is the reconcile.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{EngineError, Result};
use crate::kb::{FileOutcome, Kb, collect_files};

/// What one pass did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// A new version was stored (or a first one).
    Ingested {
        /// The file.
        path: PathBuf,
        /// The document's key.
        key: String,
        /// Its version now.
        version: u32,
    },
    /// The file could not be ingested; what was stored before is untouched.
    Failed {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// The file is gone, and its document was removed (IDs retired).
    Removed {
        /// The file that was.
        path: PathBuf,
        /// The document's key.
        key: String,
        /// IDs retired.
        retired: usize,
    },
}

impl SyncEvent {
    /// The file the event is about.
    pub fn path(&self) -> &Path {
        match self {
            SyncEvent::Ingested { path, .. } | SyncEvent::Failed { path, .. } | SyncEvent::Removed { path, .. } => path,
        }
    }
}

/// Watched folders and what the last pass saw of each file.
#[derive(Debug)]
pub struct FolderSync {
    dirs: Vec<PathBuf>,
    seen: HashMap<PathBuf, (Option<SystemTime>, u64)>,
    /// When the previous pass began.
    last_pass: Option<SystemTime>,
}

impl FolderSync {
    /// Watches `dirs` (each must be a folder).
    pub fn new(dirs: &[PathBuf]) -> Result<FolderSync> {
        let mut canonical = Vec::new();
        for d in dirs {
            let c = d.canonicalize().map_err(|source| EngineError::Io { path: d.clone(), source })?;
            if !c.is_dir() {
                let source = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder");
                return Err(EngineError::Io { path: d.clone(), source });
            }
            canonical.push(c);
        }
        Ok(FolderSync { dirs: canonical, seen: HashMap::new(), last_pass: None })
    }

    /// The watched folders, canonical.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// One reconcile pass; returns what changed (files whose bytes were unchanged are not
    /// reported).
    pub fn sync(&mut self, kb: &mut Kb) -> Result<Vec<SyncEvent>> {
        let _span = tracing::info_span!("sync", dirs = self.dirs.len()).entered();
        let files = collect_files(&self.dirs)
            .map_err(|source| EngineError::Io { path: self.dirs.first().cloned().unwrap_or_default(), source })?;
        let mut events = Vec::new();
        let mut present: HashSet<String> = HashSet::new();
        let started = SystemTime::now();
        // A file is skipped unread only when its size and time are those of the last pass
        // and its time is well before that pass began: a write in the same clock tick as
        // the last read leaves the time unchanged, and must still be read.
        let settled = self.last_pass.and_then(|t| t.checked_sub(std::time::Duration::from_secs(2)));
        for file in files {
            let path = file.canonicalize().unwrap_or(file);
            // A link inside a watched folder that leads out of it is not the folder's.
            if !self.dirs.iter().any(|d| path.starts_with(d)) {
                continue;
            }
            present.insert(path.display().to_string());
            let stamp = std::fs::metadata(&path).map(|m| (m.modified().ok(), m.len())).ok();
            let old_enough = matches!((stamp, settled), (Some((Some(m), _)), Some(s)) if m < s);
            if old_enough && self.seen.get(&path) == stamp.as_ref() {
                continue;
            }
            match kb.ingest_file(&path, None, None)? {
                FileOutcome::Unchanged { .. } => {}
                FileOutcome::Stored(v) => {
                    events.push(SyncEvent::Ingested { path: path.clone(), key: v.key.to_string(), version: v.version })
                }
                FileOutcome::Failed { error, .. } => events.push(SyncEvent::Failed { path: path.clone(), error }),
            }
            match stamp {
                Some(s) => {
                    self.seen.insert(path, s);
                }
                None => {
                    self.seen.remove(&path);
                }
            }
        }
        // Documents from inside a watched folder whose file is gone.
        for doc in kb.list()? {
            let source = Path::new(&doc.source);
            let watched = self.dirs.iter().any(|d| source.starts_with(d));
            // Only a file that is gone is removed: one the walk skips (hidden, a type the
            // folder walk does not take) but that was ingested by hand stays. A folder that
            // has vanished whole (an unmounted drive) removes nothing.
            let gone = !source.exists() && self.dirs.iter().all(|d| d.is_dir());
            if watched && !present.contains(&doc.source) && gone {
                let retired = kb.remove(doc.key.as_str())?;
                self.seen.remove(source);
                events.push(SyncEvent::Removed { path: source.to_owned(), key: doc.key.to_string(), retired });
            }
        }
        self.last_pass = Some(started);
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    fn texts(kb: &Kb) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = kb
            .corpus()
            .docs()
            .iter()
            .map(|d| (d.tree.key.to_string(), d.tree.nodes.iter().map(|n| n.text.clone()).collect()))
            .collect();
        out.sort();
        out
    }

    /// A burst of 1,000 writes, rewrites and deletions, reconciled in passes taken at
    /// arbitrary points of it, ends with the store of a fresh ingest of the folder. (A file
    /// left broken at the end keeps its last good version, by design, which a fresh ingest
    /// cannot have: that case is the next test's.)
    #[test]
    fn a_burst_of_writes_ends_equal_to_a_fresh_ingest() {
        let folder = tempfile::tempdir().unwrap();
        let kb_dir = tempfile::tempdir().unwrap();
        let mut kb = Kb::open(kb_dir.path(), Settings::default()).unwrap();
        let mut sync = FolderSync::new(&[folder.path().to_owned()]).unwrap();
        let mut rng = 7u64;
        let mut next = || {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (rng >> 33) as usize
        };
        for step in 0..1000 {
            let name = format!("note-{:02}.md", next() % 60);
            let path = folder.path().join(&name);
            match next() % 10 {
                0 | 1 => {
                    let _ = std::fs::remove_file(&path);
                }
                _ => std::fs::write(
                    &path,
                    format!(
                        "# {name}\n\n## 1. Scope\n\nStep {step} sets dose {} mg.\n\nUnchanged text.\n",
                        next() % 500
                    ),
                )
                .unwrap(),
            }
            if step % 97 == 0 {
                sync.sync(&mut kb).unwrap();
            }
        }
        let events = sync.sync(&mut kb).unwrap();
        assert!(!events.is_empty());
        // Nothing left to do.
        assert!(sync.sync(&mut kb).unwrap().is_empty());
        let fresh_dir = tempfile::tempdir().unwrap();
        let mut fresh = Kb::open(fresh_dir.path(), Settings::default()).unwrap();
        for f in collect_files(&[folder.path().to_owned()]).unwrap() {
            fresh.ingest_file(&f, None, None).unwrap();
        }
        assert_eq!(texts(&kb), texts(&fresh));
        assert!(!texts(&kb).is_empty());
    }

    #[test]
    fn a_deleted_file_retires_its_document_and_a_broken_one_keeps_its_last_version() {
        let folder = tempfile::tempdir().unwrap();
        let kb_dir = tempfile::tempdir().unwrap();
        let mut kb = Kb::open(kb_dir.path(), Settings::default()).unwrap();
        let mut sync = FolderSync::new(&[folder.path().to_owned()]).unwrap();
        let a = folder.path().join("a.md");
        std::fs::write(&a, "# A\n\nWarfarin is metabolised by CYP2C9.\n").unwrap();
        // Office's lock file beside an open document is not a document.
        std::fs::write(folder.path().join("~$report.docx"), b"\x05owner").unwrap();
        let events = sync.sync(&mut kb).unwrap();
        assert!(matches!(&events[..], [SyncEvent::Ingested { version: 1, .. }]), "{events:?}");
        let id = kb.corpus().docs()[0].tree.nodes.last().unwrap().id.clone();
        // Broken bytes: a clear failure, the stored version stays.
        std::fs::write(&a, [0xFFu8, 0xFE, 0x00, 0xD8]).unwrap();
        let events = sync.sync(&mut kb).unwrap();
        assert!(matches!(&events[..], [SyncEvent::Failed { .. }]), "{events:?}");
        assert!(kb.show(id.as_str()).is_ok());
        std::fs::remove_file(&a).unwrap();
        let events = sync.sync(&mut kb).unwrap();
        assert!(matches!(&events[..], [SyncEvent::Removed { retired, .. }] if *retired > 0), "{events:?}");
        assert!(kb.corpus().docs().is_empty());
        // The citation still explains itself, as after `cairn remove`.
        assert!(matches!(kb.show(id.as_str()).unwrap(), cairn_store::Resolved::Retired(_)));
        assert!(FolderSync::new(&[a]).is_err(), "a missing folder is an error");
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_folder_are_not_followed_and_hand_ingested_files_stay() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.md");
        std::fs::write(&secret, "# Secret\n\nNot for this knowledge base.\n").unwrap();
        let folder = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&secret, folder.path().join("link.md")).unwrap();
        // A hidden file the folder walk skips, ingested by hand.
        let hidden = folder.path().join(".draft.md");
        std::fs::write(&hidden, "# Draft\n\nKept by hand.\n").unwrap();
        let kb_dir = tempfile::tempdir().unwrap();
        let mut kb = Kb::open(kb_dir.path(), Settings::default()).unwrap();
        kb.ingest_file(&hidden, None, None).unwrap();
        let mut sync = FolderSync::new(&[folder.path().to_owned()]).unwrap();
        let events = sync.sync(&mut kb).unwrap();
        assert!(events.is_empty(), "{events:?}");
        let keys: Vec<String> = kb.corpus().docs().iter().map(|d| d.tree.key.to_string()).collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(!keys[0].contains("secret") && !keys[0].contains("link"), "{keys:?}");
    }
}
