//! Prometheus metrics: requests by route and status, latency histograms by route, and the
//! search cache's hits, in the text exposition format at `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    n: u64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    searches: Mutex<(u64, u64)>,
    /// (stage, model, kind) → tokens, kind `prompt` or `completion`.
    llm_tokens: Mutex<BTreeMap<(String, String, &'static str), u64>>,
}

impl Metrics {
    fn observe(&self, route: &str, status: u16, seconds: f64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route.to_owned(), status)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route.to_owned()).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.n += 1;
        }
    }

    /// Records a search and whether the cache answered it.
    pub(crate) fn search(&self, cached: bool) {
        if let Ok(mut s) = self.searches.lock() {
            s.0 += 1;
            s.1 += u64::from(cached);
        }
    }

    /// Adds the language-model tokens an answer used (its `llm.stages`; extractive
    /// answers use none).
    pub(crate) fn llm_usage(&self, answer: &serde_json::Value) {
        let Some(stages) = answer.pointer("/llm/stages").and_then(serde_json::Value::as_array) else {
            return;
        };
        let Ok(mut t) = self.llm_tokens.lock() else {
            return;
        };
        for stage in stages {
            let name = stage.get("stage").and_then(serde_json::Value::as_str).unwrap_or("unknown").to_owned();
            let model = stage.get("model").and_then(serde_json::Value::as_str).unwrap_or("unknown").to_owned();
            for kind in ["prompt", "completion"] {
                let n = stage.get(format!("{kind}_tokens")).and_then(serde_json::Value::as_u64).unwrap_or(0);
                *t.entry((name.clone(), model.clone(), kind)).or_default() += n;
            }
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP cairn_requests_total HTTP requests by route and status.\n# TYPE cairn_requests_total counter\n",
        );
        if let Ok(r) = self.requests.lock() {
            for ((route, code), n) in r.iter() {
                out.push_str(&format!("cairn_requests_total{{route=\"{route}\",code=\"{code}\"}} {n}\n"));
            }
        }
        out.push_str("# HELP cairn_request_duration_seconds Request latency by route.\n# TYPE cairn_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                for (i, b) in BUCKETS.iter().enumerate() {
                    out.push_str(&format!(
                        "cairn_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}\n",
                        h.counts[i]
                    ));
                }
                out.push_str(&format!(
                    "cairn_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n",
                    h.n
                ));
                out.push_str(&format!("cairn_request_duration_seconds_sum{{route=\"{route}\"}} {}\n", h.sum));
                out.push_str(&format!("cairn_request_duration_seconds_count{{route=\"{route}\"}} {}\n", h.n));
            }
        }
        if let Ok(s) = self.searches.lock() {
            out.push_str("# HELP cairn_search_total Searches served.\n# TYPE cairn_search_total counter\n");
            out.push_str(&format!("cairn_search_total {}\n", s.0));
            out.push_str("# HELP cairn_search_cache_hits_total Searches answered from the cache.\n# TYPE cairn_search_cache_hits_total counter\n");
            out.push_str(&format!("cairn_search_cache_hits_total {}\n", s.1));
        }
        out.push_str("# HELP cairn_llm_tokens_total Language-model tokens used by answers, by stage, model and kind.\n# TYPE cairn_llm_tokens_total counter\n");
        if let Ok(t) = self.llm_tokens.lock() {
            let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            for ((stage, model, kind), n) in t.iter() {
                let (stage, model) = (esc(stage), esc(model));
                out.push_str(&format!(
                    "cairn_llm_tokens_total{{stage=\"{stage}\",model=\"{model}\",kind=\"{kind}\"}} {n}\n"
                ));
            }
        }
        out
    }
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Middleware: a tracing span per request (with its request ID), and its latency and
/// status counted.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    // The caller's request ID if it sent a sane one, else ours; echoed in the response.
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| format!("{:016x}", NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)), str::to_owned);
    let span = tracing::info_span!("request", %method, route = %route, id = %id);
    let mut response = {
        let _enter = span.enter();
        tracing::debug!("start");
        next.run(request).await
    };
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.observe(&route, response.status().as_u16(), seconds);
    tracing::info!(parent: &span, status = response.status().as_u16(), ms = seconds * 1000.0, "done");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llm_tokens_are_summed_by_stage_model_and_kind() {
        let m = Metrics::default();
        let answer = serde_json::json!({"llm": {"stages": [
            {"stage": "router", "model": "openai:gpt-4o-mini", "calls": 3, "prompt_tokens": 2410, "completion_tokens": 96},
            {"stage": "answer", "model": "openai:gpt-4o-mini", "calls": 1, "prompt_tokens": 900, "completion_tokens": 120},
        ]}});
        m.llm_usage(&answer);
        m.llm_usage(&answer);
        m.llm_usage(&serde_json::json!({"llm": null})); // extractive answers add nothing
        let text = m.render();
        assert!(
            text.contains(r#"cairn_llm_tokens_total{stage="router",model="openai:gpt-4o-mini",kind="prompt"} 4820"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cairn_llm_tokens_total{stage="answer",model="openai:gpt-4o-mini",kind="completion"} 240"#),
            "{text}"
        );
        assert!(text.contains("# TYPE cairn_llm_tokens_total counter"));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.llm_usage(&serde_json::json!({"llm": {"stages": [{"stage": "answer", "model": "gguf:C:\\m\"x", "prompt_tokens": 1}]}}));
        assert!(m.render().contains(r#"model="gguf:C:\\m\"x""#), "{}", m.render());
    }
}
