//! Embeds pdf.js (npm's `pdfjs-dist`, installed into `web/vendor` by
//! `scripts/fetch-web.sh`) when it is there, for the web page's page view. Without it the
//! server still builds: the page view's script answers 404 and the page shows the
//! document view instead.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(cairn_pdfjs)");
    println!("cargo::rerun-if-changed=web/vendor");
    let build = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/vendor/node_modules/pdfjs-dist/build");
    if build.join("pdf.min.mjs").is_file() && build.join("pdf.worker.min.mjs").is_file() {
        println!("cargo::rustc-cfg=cairn_pdfjs");
        println!("cargo::rustc-env=CAIRN_PDFJS_DIR={}", build.display());
    } else {
        println!("cargo::warning=pdf.js is not installed (scripts/fetch-web.sh): the web page will have no page view");
    }
}
