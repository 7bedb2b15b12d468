//! Editing one paragraph and re-ingesting reports one changed node, changes only that
//! node's stable ID, and `cairn show OLD_ID` names the successor.

use crate::{cairn, handbook, run_ok, snapshot};

#[test]
fn one_edit_one_changed_node() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let file = dir.path().join("notes.md");
    std::fs::write(&file, handbook(50, None)).unwrap();
    let out = run_ok(cairn(&kb).arg("ingest").arg(&file));
    assert!(out.contains("added"), "{out}");
    let out = run_ok(cairn(&kb).arg("ingest").arg(&file));
    assert!(out.contains("unchanged"), "re-ingesting the same bytes does no work: {out}");
    let before = snapshot(&kb);

    std::fs::write(&file, handbook(50, Some(23))).unwrap();
    let out = run_ok(cairn(&kb).arg("ingest").arg(&file));
    assert!(out.contains("0 added, 1 changed, 0 removed"), "{out}");
    let after = snapshot(&kb);
    let ids = |rows: &[(String, String, String, String)]| rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>();
    let (old_ids, new_ids) = (ids(&before), ids(&after));
    assert_eq!(old_ids.len(), new_ids.len());
    let differing: Vec<usize> = (0..old_ids.len()).filter(|&i| old_ids[i] != new_ids[i]).collect();
    // One node, plus the document's own version row in the snapshot.
    assert_eq!(differing.len(), 2, "{differing:?}");
    let edited = differing[0];
    assert!(before[edited].3.starts_with("Paragraph 23 explains"));

    let shown = run_ok(cairn(&kb).args(["show", &old_ids[edited]]));
    assert!(shown.contains("edited in version 2"), "{shown}");
    assert!(shown.contains(&new_ids[edited]), "names its successor: {shown}");
    assert!(shown.contains("Paragraph 23 was revised"), "{shown}");
    let by_display = run_ok(cairn(&kb).args(["show", "notes:5.4"]));
    assert!(by_display.contains("Paragraph 23 was revised"), "{by_display}");
}
