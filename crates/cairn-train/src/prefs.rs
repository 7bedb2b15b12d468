//! Preference data in TRL's formats: `{"prompt", "chosen", "rejected"}` with strings (the
//! prompt used as written), or with message lists (rendered with the SFT chat template), into
//! pairs of examples whose loss masks cover the responses.

use std::path::Path;

use serde_json::Value;
use tokenizers::Tokenizer;

use crate::data::Example;
use crate::error::{Result, TrainError};

/// How a string prompt becomes model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptTemplate {
    /// As written (TRL's convention).
    Raw,
    /// Wrapped in the SFT instruction template (for models tuned with `cairn train sft`;
    /// `cairn feedback export` writes bare questions).
    Instruction,
}

/// A preferred and a dispreferred response to one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Prompt + chosen response (+ EOS); the response is learned.
    pub chosen: Example,
    /// Prompt + rejected response (+ EOS).
    pub rejected: Example,
}

fn render_messages(v: &Value) -> std::result::Result<String, String> {
    let msgs = v.as_array().ok_or("expected a string or a list of messages")?;
    let mut out = String::new();
    for m in msgs {
        let role = m.get("role").and_then(Value::as_str).ok_or("a message has no role")?;
        let content = m.get("content").and_then(Value::as_str).ok_or("a message has no text content")?;
        let head = match role {
            "system" => "### System:\n",
            "user" => "### User:\n",
            "assistant" => "### Assistant:\n",
            other => return Err(format!("unknown role {other:?}")),
        };
        out.push_str(head);
        out.push_str(content);
        out.push('\n');
    }
    Ok(out)
}

fn text_of(v: &Value, response: bool, template: PromptTemplate) -> std::result::Result<String, String> {
    match v {
        Value::String(s) if !response && template == PromptTemplate::Instruction => {
            Ok(crate::data::instruction_prompt(s, None))
        }
        Value::String(s) => Ok(s.clone()),
        Value::Array(msgs) if response => {
            Ok(msgs.iter().filter_map(|m| m.get("content").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"))
        }
        Value::Array(_) => Ok(format!("{}### Assistant:\n", render_messages(v)?)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => {
            Err("expected a string or a list of messages".into())
        }
    }
}

fn example(
    tok: &Tokenizer,
    prompt: &str,
    response: &str,
    eos: Option<u32>,
    max_len: usize,
) -> std::result::Result<Example, String> {
    // The prompt with the model's BOS if it wants one (Gemma), the response without.
    let p = tok.encode(prompt, true).map_err(|e| e.to_string())?.get_ids().to_vec();
    let r = tok.encode(response, false).map_err(|e| e.to_string())?.get_ids().to_vec();
    let mut learn = vec![false; p.len()];
    learn.extend(std::iter::repeat_n(true, r.len()));
    let mut ids = [p, r].concat();
    if let Some(e) = eos {
        ids.push(e);
        learn.push(true);
    }
    ids.truncate(max_len);
    learn.truncate(max_len);
    if !learn.iter().skip(1).any(|l| *l) {
        return Err(format!("no response token left within {max_len} tokens (raise --max-len)"));
    }
    Ok(Example { ids, learn })
}

/// One pair from one JSONL line.
pub fn pair_from_line(
    line: &str,
    tok: &Tokenizer,
    eos: Option<u32>,
    max_len: usize,
    template: PromptTemplate,
) -> std::result::Result<Pair, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let field = |k: &str| v.get(k).ok_or_else(|| format!("no {k}"));
    let prompt = text_of(field("prompt")?, false, template)?;
    let chosen = text_of(field("chosen")?, true, template)?;
    let rejected = text_of(field("rejected")?, true, template)?;
    if chosen == rejected {
        return Err("chosen and rejected are the same".into());
    }
    Ok(Pair {
        chosen: example(tok, &prompt, &chosen, eos, max_len)?,
        rejected: example(tok, &prompt, &rejected, eos, max_len)?,
    })
}

/// Reads preference pairs from `path`.
pub fn load_pairs(
    path: &Path,
    tok: &Tokenizer,
    eos: Option<u32>,
    max_len: usize,
    template: PromptTemplate,
) -> Result<Vec<Pair>> {
    let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        out.push(pair_from_line(line, tok, eos, max_len, template).map_err(|detail| TrainError::Data {
            path: path.into(),
            line: i + 1,
            detail,
        })?);
    }
    if out.is_empty() {
        return Err(TrainError::Data { path: path.into(), line: 0, detail: "no preference pairs".into() });
    }
    Ok(out)
}
