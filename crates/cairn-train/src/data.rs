//! Training data: the seed's instruction JSONL (`{"instruction", "input"?, "output"}`),
//! chat JSONL (`{"messages": [{"role", "content"}]}`), TRL's prompt-completion JSONL
//! (`{"prompt", "completion"}`) and plain text, tokenised into
//! examples whose loss mask marks the tokens to learn (the answers, for SFT).

use std::path::Path;

use candle_core::{Device, Tensor};
use serde_json::Value;
use tokenizers::Tokenizer;

use crate::error::{Result, TrainError};

/// One tokenised example: `learn[i]` says whether token `i` is a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Per token: predict it (true) or only condition on it (false).
    pub learn: Vec<bool>,
}

/// A chat as Qwen's template renders it, ending with the assistant's header (the prompt
/// a model continues with its reply).
pub fn chatml_prompt(messages: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (role, content) in messages {
        out.push_str(&format!("<|im_start|>{role}\n{content}<|im_end|>\n"));
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

/// The prompt Cairn's SFT renders for an instruction example (also for inference).
pub fn instruction_prompt(instruction: &str, input: Option<&str>) -> String {
    match input.filter(|s| !s.trim().is_empty()) {
        Some(input) => format!("### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"),
        None => format!("### Instruction:\n{instruction}\n\n### Response:\n"),
    }
}

/// A text segment and whether its tokens are learned.
type Segment = (String, bool);

fn segments_of(v: &Value) -> std::result::Result<Vec<Segment>, String> {
    if let Some(messages) = v.get("messages") {
        let messages = messages.as_array().ok_or("messages is not an array")?;
        // `"template": "chatml"` renders the messages as Qwen's chat template does and
        // `"gemma"` as Gemma's (what llama.cpp applies when `ask` runs the model), so the
        // model learns the format it is served in; otherwise Cairn's `### Role:` headers.
        let template = match v.get("template").and_then(Value::as_str) {
            None | Some("headers") => None,
            Some("chatml") => Some(false),
            Some("gemma") => Some(true),
            Some(other) => return Err(format!("unknown template {other:?} (chatml, gemma, headers)")),
        };
        if template == Some(true) {
            return gemma_segments(messages);
        }
        let chatml = template.is_some();
        let mut out = Vec::new();
        for m in messages {
            let role = m.get("role").and_then(Value::as_str).ok_or("a message has no role")?;
            let content = m.get("content").and_then(Value::as_str).ok_or("a message has no text content")?;
            let (head, learn) = match role {
                "system" => ("### System:\n", false),
                "user" => ("### User:\n", false),
                "assistant" => ("### Assistant:\n", true),
                other => return Err(format!("unknown role {other:?}")),
            };
            if chatml {
                out.push((format!("<|im_start|>{role}\n"), false));
                out.push((format!("{content}<|im_end|>"), learn));
                out.push(("\n".to_owned(), false));
            } else {
                out.push((head.to_owned(), false));
                out.push((format!("{content}\n"), learn));
            }
        }
        if !out.iter().any(|(_, learn)| *learn) {
            return Err("no assistant message to learn".into());
        }
        return Ok(out);
    }
    // TRL's prompt-completion format: the prompt as written, the completion learned.
    if let (Some(prompt), Some(completion)) =
        (v.get("prompt").and_then(Value::as_str), v.get("completion").and_then(Value::as_str))
    {
        return Ok(vec![(prompt.to_owned(), false), (completion.to_owned(), true)]);
    }
    let instruction =
        v.get("instruction").and_then(Value::as_str).ok_or("neither messages, prompt/completion nor instruction")?;
    let output = v.get("output").and_then(Value::as_str).ok_or("no output")?;
    let input = v.get("input").and_then(Value::as_str);
    Ok(vec![(instruction_prompt(instruction, input), false), (output.to_owned(), true)])
}

/// Gemma's turns (`<start_of_turn>user … <end_of_turn>`, the reply's role is `model`); Gemma
/// has no system role, so a system message opens the first user turn, as its template does.
fn gemma_segments(messages: &[Value]) -> std::result::Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut system = String::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).ok_or("a message has no role")?;
        let content = m.get("content").and_then(Value::as_str).ok_or("a message has no text content")?;
        let (turn, learn) = match role {
            "system" => {
                system = format!("{content}\n\n");
                continue;
            }
            "user" => ("user", false),
            "assistant" => ("model", true),
            other => return Err(format!("unknown role {other:?}")),
        };
        out.push((format!("<start_of_turn>{turn}\n{}", std::mem::take(&mut system)), false));
        out.push((format!("{content}<end_of_turn>"), learn));
        out.push(("\n".to_owned(), false));
    }
    if !out.iter().any(|(_, learn)| *learn) {
        return Err("no assistant message to learn".into());
    }
    Ok(out)
}

/// The token the tokenizer puts before a sequence (Gemma's `<bos>`), if it adds one.
fn leading_special(tok: &Tokenizer) -> Result<Option<u32>> {
    let with = tok.encode("a", true).map_err(TrainError::tokenizer)?;
    let without = tok.encode("a", false).map_err(TrainError::tokenizer)?;
    Ok(if with.get_ids().len() > without.get_ids().len() { with.get_ids().first().copied() } else { None })
}

/// Tokenises segments, after the tokenizer's leading special token if it adds one (not
/// learned), appending `eos` (learned) after the last learned segment.
fn encode(tok: &Tokenizer, segments: &[Segment], eos: Option<u32>, max_len: usize) -> Result<Example> {
    let mut ex = Example { ids: Vec::new(), learn: Vec::new() };
    if let Some(bos) = leading_special(tok)? {
        ex.ids.push(bos);
        ex.learn.push(false);
    }
    for (text, learn) in segments {
        let enc = tok.encode(text.as_str(), false).map_err(TrainError::tokenizer)?;
        ex.learn.extend(std::iter::repeat_n(*learn, enc.get_ids().len()));
        ex.ids.extend_from_slice(enc.get_ids());
    }
    if let Some(eos) = eos {
        ex.ids.push(eos);
        ex.learn.push(true);
    }
    ex.ids.truncate(max_len);
    ex.learn.truncate(max_len);
    Ok(ex)
}

/// Reads SFT examples (either JSONL format, mixed freely) from `path`.
pub fn load_sft(path: &Path, tok: &Tokenizer, eos: Option<u32>, max_len: usize) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ex = sft_example(line, tok, eos, max_len).map_err(|detail| TrainError::Data {
            path: path.into(),
            line: i + 1,
            detail,
        })?;
        out.push(ex);
    }
    if out.is_empty() {
        return Err(TrainError::Data { path: path.into(), line: 0, detail: "no examples".into() });
    }
    Ok(out)
}

/// One SFT example from one JSONL line; the error says what is wrong with it.
pub fn sft_example(
    line: &str,
    tok: &Tokenizer,
    eos: Option<u32>,
    max_len: usize,
) -> std::result::Result<Example, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let segments = segments_of(&v)?;
    // A chat-template example ends its reply with its end-of-turn marker itself (learned).
    let eos = if matches!(v.get("template").and_then(Value::as_str), Some("chatml" | "gemma")) { None } else { eos };
    let ex = encode(tok, &segments, eos, max_len).map_err(|e| e.to_string())?;
    if !ex.learn.iter().skip(1).any(|l| *l) {
        return Err(format!("nothing left to learn within {max_len} tokens (raise --max-len)"));
    }
    Ok(ex)
}

/// Plain-text lines, every token learned (for domain text).
pub fn load_text(path: &Path, tok: &Tokenizer, eos: Option<u32>, max_len: usize) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let ex = encode(tok, &[(line.to_owned(), true)], eos, max_len)?;
        if ex.ids.len() >= 2 {
            out.push(ex);
        }
    }
    if out.is_empty() {
        return Err(TrainError::Data { path: path.into(), line: 0, detail: "no text lines".into() });
    }
    Ok(out)
}

/// A padded batch: inputs are tokens `0..n-1`, targets `1..n`, mask the learned targets.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[b, t]` u32.
    pub inputs: Tensor,
    /// `[b, t]` u32.
    pub targets: Tensor,
    /// `[b, t]` f32, 1 where the target is learned.
    pub mask: Tensor,
    /// Learned target tokens in the batch.
    pub tokens: usize,
}

/// Pads `examples` (right, with `pad`) into one batch.
pub fn batch(examples: &[&Example], pad: u32, device: &Device) -> Result<Batch> {
    let t = examples.iter().map(|e| e.ids.len().saturating_sub(1)).max().unwrap_or(0).max(1);
    let (mut inputs, mut targets, mut mask) = (Vec::new(), Vec::new(), Vec::new());
    for e in examples {
        for i in 0..t {
            let real = i + 1 < e.ids.len();
            inputs.push(if real { e.ids[i] } else { pad });
            targets.push(if real { e.ids[i + 1] } else { pad });
            mask.push(if real && e.learn[i + 1] { 1f32 } else { 0.0 });
        }
    }
    let b = examples.len();
    let tokens = mask.iter().filter(|m| **m > 0.0).count();
    Ok(Batch {
        inputs: Tensor::from_vec(inputs, (b, t), device)?,
        targets: Tensor::from_vec(targets, (b, t), device)?,
        mask: Tensor::from_vec(mask, (b, t), device)?,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn chat_template_examples_render_as_served_and_learn_only_the_reply() {
        let v = serde_json::json!({"template": "chatml", "messages": [
            {"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]});
        let segments = super::segments_of(&v).unwrap_or_default();
        let text: String = segments.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(text, format!("{}A<|im_end|>\n", super::chatml_prompt(&[("system", "S"), ("user", "Q")])));
        let learned: String = segments.iter().filter(|(_, l)| *l).map(|(t, _)| t.as_str()).collect();
        assert_eq!(learned, "A<|im_end|>");
        // Gemma's turns; the system message opens the first user turn.
        let mut g = v.clone();
        g["template"] = serde_json::json!("gemma");
        let segments = super::segments_of(&g).unwrap_or_default();
        let text: String = segments.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(text, "<start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n");
        let learned: String = segments.iter().filter(|(_, l)| *l).map(|(t, _)| t.as_str()).collect();
        assert_eq!(learned, "A<end_of_turn>");
        let bad = serde_json::json!({"template": "jinja", "messages": [{"role": "assistant", "content": "A"}]});
        assert!(super::segments_of(&bad).is_err());
    }

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn batches_shift_pad_and_mask_exactly(rows in proptest::collection::vec(
            proptest::collection::vec((0u32..50, any::<bool>()), 1..12), 1..5)) {
            let examples: Vec<Example> = rows
                .iter()
                .map(|r| Example { ids: r.iter().map(|p| p.0).collect(), learn: r.iter().map(|p| p.1).collect() })
                .collect();
            let b = batch(&examples.iter().collect::<Vec<_>>(), 99, &Device::Cpu).unwrap();
            let want: usize = examples.iter().map(|e| e.learn.iter().skip(1).filter(|l| **l).count()).sum();
            prop_assert_eq!(b.tokens, want);
            let (inputs, targets) = (b.inputs.to_vec2::<u32>().unwrap(), b.targets.to_vec2::<u32>().unwrap());
            let mask = b.mask.to_vec2::<f32>().unwrap();
            for (i, e) in examples.iter().enumerate() {
                for t in 0..inputs[i].len() {
                    if t + 1 < e.ids.len() {
                        prop_assert_eq!((inputs[i][t], targets[i][t]), (e.ids[t], e.ids[t + 1]));
                        prop_assert_eq!(mask[i][t] > 0.0, e.learn[t + 1]);
                    } else {
                        prop_assert_eq!((inputs[i][t], mask[i][t]), (99, 0.0));
                    }
                }
            }
        }
    }
}
