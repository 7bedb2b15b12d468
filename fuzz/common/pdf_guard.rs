//! libFuzzer's panic hook aborts on every panic, even caught ones. The PDF guard catches
//! pdf-extract's panics (as the CLI does); this hook lets those through and hands any other
//! panic to libFuzzer.

/// Installs the hook once.
pub fn let_guarded_panics_through() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !cairn_ingest::pdf::in_guarded_parse() {
                fuzzer_hook(info);
            }
        }));
    });
}
