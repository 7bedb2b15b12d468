//! Parity with PyTorch: checkpoints written by transformers (Llama and Qwen2, random
//! weights; see `bench/make_train_fixture.py`) load here and give the logits PyTorch gave.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

use std::path::Path;

use cairn_train::Checkpoint;
use candle_core::{DType, Device, Tensor};

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let ck = Checkpoint::load(&dir, DType::F32).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected_logits.json")).unwrap()).unwrap();
    let ids: Vec<u32> = expected["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let input = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let logits = ck.model.forward(&input, None, None).unwrap().get(0).unwrap().to_vec2::<f32>().unwrap();
    let want = expected["logits"].as_array().unwrap();
    let mut worst = 0f64;
    for (row, w) in logits.iter().zip(want) {
        for (a, b) in row.iter().zip(w.as_array().unwrap()) {
            worst = worst.max((*a as f64 - b.as_f64().unwrap()).abs());
        }
    }
    assert_eq!(logits.len(), ids.len(), "logits for every position");
    assert!(worst < 1e-5, "{name}: largest difference from PyTorch {worst}");
}

#[test]
fn llama_matches_pytorch_logits() {
    check("hf-llama");
}

#[test]
fn qwen2_matches_pytorch_logits() {
    check("hf-qwen2");
}
