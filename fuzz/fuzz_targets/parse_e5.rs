//! Model files named by users (`embedding_model = PATH`): reading an E5S1 file never panics,
//! and whatever parses tokenizes text and reads its tensors without panicking either.
#![no_main]

use cairn_embed::e5file::E5File;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = E5File::parse(data.to_vec()) else { return };
    for text in ["", " ", "query: warfarin 华法林", "  a  b  "] {
        let _ = file.tokenizer.encode(text);
    }
    let c = file.config;
    let _ = file.f32s("emb.ln.w", c.hidden);
    let _ = file.f32s("emb.pos", c.max_positions.saturating_mul(c.hidden));
    if let Ok(words) = file.q4_rows("emb.word", c.vocab, c.hidden) {
        let mut row = vec![0f32; c.hidden];
        let _ = words.row_into(0, &mut row);
        let _ = words.row_into(words.rows(), &mut row);
    }
});
