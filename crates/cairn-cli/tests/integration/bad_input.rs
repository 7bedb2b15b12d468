//! Bad input gets a clear error and loses nothing already stored.

use crate::{cairn, run_ok, snapshot};

#[test]
fn bad_files_fail_clearly_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("good.md"), "# Good\n\n## 1. One\n\nWarfarin is metabolized by CYP2C9.\n").unwrap();
    run_ok(cairn(&kb).arg("ingest").arg(&docs));
    let before = snapshot(&kb);

    let mut pdf = cairn_ingest::testing::pdf(&[vec!["Hello."]], &[], None);
    pdf.truncate(pdf.len() / 3);
    std::fs::write(docs.join("corrupt.pdf"), pdf).unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(std::iter::repeat_n(7u8, 300));
    std::fs::write(docs.join("image.txt"), png).unwrap();
    std::fs::write(docs.join("empty.txt"), b"").unwrap();
    std::fs::write(docs.join("latin1.txt"), b"Caf\xe9 cr\xe8me with \xe9 accents everywhere").unwrap();
    std::fs::write(docs.join("big.txt"), "word ".repeat(300_000)).unwrap();
    // The good file is edited too: it must still update while the others fail.
    std::fs::write(docs.join("good.md"), "# Good\n\n## 1. One\n\nWarfarin is metabolized mainly by CYP2C9.\n").unwrap();

    let out = cairn(&kb).arg("ingest").arg(&docs).args(["--max-file-mb", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("5 of 6 file(s) could not be ingested"), "{stderr}");
    for (file, message) in [
        ("corrupt.pdf", "corrupt or unsupported PDF"),
        ("image.txt", "looks binary"),
        ("empty.txt", "document is empty"),
        ("latin1.txt", "cannot tell the text encoding"),
        ("big.txt", "over the 1048576-byte cap"),
    ] {
        let line = stdout.lines().find(|l| l.contains(file)).unwrap_or_else(|| panic!("no line for {file}: {stdout}"));
        assert!(line.starts_with("failed") && line.contains(message), "{line}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("updated") && l.contains("good.md")), "{stdout}");
    let after = snapshot(&kb);
    assert_eq!(after.len(), before.len(), "only the good document is stored");
    let list = run_ok(cairn(&kb).arg("list"));
    assert_eq!(list.lines().count(), 2, "{list}");

    // With the encoding named, the Latin-1 file ingests.
    let out = run_ok(cairn(&kb).arg("ingest").arg(docs.join("latin1.txt")).args(["--encoding", "latin1"]));
    assert!(out.starts_with("added"), "{out}");
    let shown = run_ok(cairn(&kb).args(["show", "latin1:1"]));
    assert!(shown.contains("Café crème"), "{shown}");
}

#[test]
fn malformed_ids_and_questions_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let out = cairn(&kb).args(["show", "not-an-id"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a stable ID"));
    let out = cairn(&kb).args(["ask", "anything"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is empty"));
    let out = cairn(&kb).args(["--set", "min_coverage=7", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 0 and 1"));
}
