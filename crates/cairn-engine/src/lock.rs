//! One writer process per knowledge base.
//!
//! SQLite keeps the store itself consistent under several processes, but the derived
//! files beside it (vectors, the keyword index) are rewritten by whoever holds the
//! knowledge base, and two writers would each overwrite the other's. So the first
//! change a process makes takes an exclusive advisory lock on `DIR/writer.lock`, held
//! until the knowledge base is dropped; a second process that tries to change the same
//! knowledge base is refused with the holder's PID and command line. Readers never lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

/// The held lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock of the knowledge base in `dir`, or says who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<WriterLock> {
        let path = lock_path(dir);
        let io = |source| EngineError::Io { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(EngineError::Locked { dir: dir.to_owned(), holder: holder.trim().to_owned() });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let me = format!(
            "pid {} ({})",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ").chars().take(200).collect::<String>()
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(me.as_bytes()).map_err(io)?;
        Ok(WriterLock { _file: file })
    }
}

/// Where the lock of the knowledge base in `dir` lives.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join("writer.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named_and_the_lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path()).unwrap();
        // Another open file description of the same file: the OS refuses it as it would
        // refuse another process.
        let err = WriterLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        drop(first);
        assert!(WriterLock::acquire(dir.path()).is_ok());
        assert!(lock_path(dir.path()).exists());
    }
}
