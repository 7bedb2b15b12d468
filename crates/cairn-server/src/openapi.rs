//! The OpenAPI document. Routes are registered through [`routes`], from the handlers'
//! `#[utoipa::path]` declarations, so the served router and the spec are one list.
//! [`spec_json`] is what `docs/openapi.json` must equal; a test fails on drift.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{AppState, api, docs, openai, pages};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn",
        description = "Answers from long, changing domain documents, where every claim cites a paragraph checked \
                       against the source. Read routes need an API key (`Authorization: Bearer KEY`) unless the \
                       server runs with `--open-reads` or `--demo`; writes always need one (the loopback demo \
                       accepts feedback without). Every error is `{\"error\": {\"message\", \"code\", \"type\"}}`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    modifiers(&BearerKeys),
    tags(
        (name = "kbs", description = "Knowledge bases"),
        (name = "documents", description = "Documents, nodes and ingest"),
        (name = "search", description = "Hybrid retrieval"),
        (name = "ask", description = "Cited answers by hierarchical navigation"),
        (name = "graph", description = "Knowledge graph and drug-interaction review"),
        (name = "feedback", description = "Verdicts on answers, for preference training"),
        (name = "openai", description = "OpenAI-compatible chat: each knowledge base is a model `cairn-{kb}`"),
        (name = "mcp", description = "Model Context Protocol over streamable HTTP"),
        (name = "server", description = "Health and metrics"),
        (name = "page", description = "The web page"),
    )
)]
struct ApiDoc;

#[derive(Debug)]
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key given to `cairn serve --api-key`"))
                    .build(),
            ),
        );
    }
}

/// Every route, with its OpenAPI operation.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::page))
        .routes(routes!(api::health))
        .routes(routes!(api::metrics_text))
        .routes(routes!(api::list_kbs))
        .routes(routes!(docs::list, docs::upload))
        .routes(routes!(docs::read, docs::remove))
        .routes(routes!(docs::ingest_path))
        .routes(routes!(docs::job))
        .routes(routes!(api::node))
        .routes(routes!(pages::boxes))
        .routes(routes!(pages::original))
        .routes(routes!(pages::pdfjs))
        .routes(routes!(pages::pdfjs_worker))
        .routes(routes!(api::search))
        .routes(routes!(api::ask))
        .routes(routes!(api::graph_query))
        .routes(routes!(api::drug_check))
        .routes(routes!(api::feedback))
        .routes(routes!(api::mcp_http, api::mcp_get, api::mcp_delete))
        .routes(routes!(openai::models))
        .routes(routes!(openai::chat))
        .routes(routes!(openapi_doc))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "server", responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn openapi_doc() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    static SPEC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ([(axum::http::header::CONTENT_TYPE, "application/json")], SPEC.get_or_init(spec_json).as_str())
}

/// The spec as pretty JSON, as committed in `docs/openapi.json`.
pub fn spec_json() -> String {
    let (_, spec) = routes().split_for_parts();
    let mut text = spec.to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
