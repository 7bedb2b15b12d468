//! People's verdicts on answers (👍/👎, or the better of two), kept with the stable IDs the
//! answer cited, and turned into preference pairs for DPO.

use crate::error::{Result, StoreError};
use crate::sql::{Sql, params};

/// A verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A good answer.
    Up,
    /// A bad answer.
    Down,
    /// `answer` is better than this other answer.
    Prefer {
        /// The worse answer.
        rejected: String,
    },
}

/// One recorded verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// The question.
    pub question: String,
    /// The answer judged (the better one, for [`Verdict::Prefer`]).
    pub answer: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Stable IDs the answer cited.
    pub cited: Vec<String>,
    /// Unix seconds.
    pub at: i64,
}

/// A preference pair derived from verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferencePair {
    /// The question.
    pub question: String,
    /// The preferred answer.
    pub chosen: String,
    /// The other.
    pub rejected: String,
}

pub(crate) fn record(db: &mut dyn Sql, f: &Feedback) -> Result<i64> {
    if f.question.trim().is_empty() || f.answer.trim().is_empty() {
        return Err(StoreError::InvalidInput { detail: "feedback needs a question and an answer".into() });
    }
    let (verdict, rejected) = match &f.verdict {
        Verdict::Up => ("up", None),
        Verdict::Down => ("down", None),
        Verdict::Prefer { rejected } => ("prefer", Some(rejected.as_str())),
    };
    db.insert_id(
        "INSERT INTO feedback(question, answer, verdict, rejected, cited, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![f.question.as_str(), f.answer.as_str(), verdict, rejected, f.cited.join(" "), f.at],
        "id",
    )
}

pub(crate) fn all(db: &mut dyn Sql) -> Result<Vec<Feedback>> {
    let rows = db.rows("SELECT id, question, answer, verdict, rejected, cited, at FROM feedback ORDER BY id", &[])?;
    let mut out = Vec::new();
    for r in rows {
        let (id, question, answer, verdict, rejected, cited, at) =
            (r.int(0)?, r.text(1)?, r.text(2)?, r.text(3)?, r.opt_text(4)?, r.text(5)?, r.int(6)?);
        let verdict = match (verdict.as_str(), rejected) {
            ("up", _) => Verdict::Up,
            ("down", _) => Verdict::Down,
            ("prefer", Some(rejected)) => Verdict::Prefer { rejected },
            (other, _) => {
                return Err(StoreError::Corrupt { table: "feedback", detail: format!("row {id}: verdict {other:?}") });
            }
        };
        let cited = cited.split_whitespace().map(str::to_owned).collect();
        out.push(Feedback { id, question, answer, verdict, cited, at });
    }
    Ok(out)
}

/// Pairs from verdicts: each pairwise verdict as given, and per question every 👍 answer
/// against every 👎 answer. Duplicates are dropped.
pub fn pairs(feedback: &[Feedback]) -> Vec<PreferencePair> {
    let mut out: Vec<PreferencePair> = Vec::new();
    let mut push = |p: PreferencePair| {
        if p.chosen != p.rejected && !out.contains(&p) {
            out.push(p);
        }
    };
    for f in feedback {
        if let Verdict::Prefer { rejected } = &f.verdict {
            push(PreferencePair { question: f.question.clone(), chosen: f.answer.clone(), rejected: rejected.clone() });
        }
    }
    for up in feedback.iter().filter(|f| f.verdict == Verdict::Up) {
        for down in feedback.iter().filter(|f| f.verdict == Verdict::Down && f.question == up.question) {
            push(PreferencePair {
                question: up.question.clone(),
                chosen: up.answer.clone(),
                rejected: down.answer.clone(),
            });
        }
    }
    out
}
