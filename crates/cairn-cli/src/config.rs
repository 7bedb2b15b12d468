//! Settings in layers: defaults, then `cairn.toml`, then `CAIRN_*` environment variables,
//! then `--set name=value` flags. Only this binary reads files and the environment for
//! configuration; the engine receives the finished [`Settings`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cairn_engine::Settings;

/// Where the knowledge base lives: `--kb`, else `CAIRN_KB`, else `./.cairn`.
pub fn kb_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_owned)
        .or_else(|| std::env::var_os("CAIRN_KB").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".cairn"))
}

/// Builds the settings. `config` is `--config`; without it, `KB/cairn.toml` and then
/// `./cairn.toml` are read if they exist.
pub fn settings(kb: &Path, config: Option<&Path>, sets: &[String]) -> Result<Settings> {
    let mut settings = Settings::default();
    let candidates: Vec<PathBuf> = match config {
        Some(path) => vec![path.to_owned()],
        None => vec![kb.join("cairn.toml"), PathBuf::from("cairn.toml")],
    };
    for path in candidates {
        if !path.exists() {
            if config.is_some() {
                bail!("config file {} does not exist", path.display());
            }
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        settings = toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?;
        break;
    }
    for name in Settings::NAMES {
        let var = format!("CAIRN_{}", name.to_uppercase());
        if let Ok(value) = std::env::var(&var) {
            settings.set(name, &value).with_context(|| format!("from environment variable {var}"))?;
        }
    }
    for entry in sets {
        let (name, value) =
            entry.split_once('=').with_context(|| format!("--set expects name=value, got `{entry}`"))?;
        settings.set(name.trim(), value).with_context(|| format!("from --set {entry}"))?;
    }
    let api_key = std::env::var("OPENAI_API_KEY").ok().filter(|k| !k.is_empty());
    if settings.embedding_api_key.is_none() {
        settings.embedding_api_key = api_key.clone();
    }
    if settings.llm_api_key.is_none() {
        settings.llm_api_key = api_key;
    }
    // OPENAI_BASE_URL is honoured unless a CAIRN_ variable, the file or a flag chose.
    if let Ok(url) = std::env::var("OPENAI_BASE_URL")
        && !url.is_empty()
        && settings.llm_base_url == Settings::default().llm_base_url
    {
        settings.llm_base_url = url;
    }
    settings.validate()?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cairn.toml"), "max_paragraphs = 7\nmin_coverage = 0.4\n").unwrap();
        let s = settings(dir.path(), None, &["min_coverage=0.3".into()]).unwrap();
        assert_eq!((s.max_paragraphs, s.min_coverage), (7, 0.3));
        std::fs::write(dir.path().join("cairn.toml"), "max_paragrafs = 7\n").unwrap();
        let err = settings(dir.path(), None, &[]).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        assert!(settings(dir.path(), Some(&dir.path().join("missing.toml")), &[]).is_err());
        std::fs::remove_file(dir.path().join("cairn.toml")).unwrap();
        assert!(settings(dir.path(), None, &["min_coverage=2".into()]).is_err());
    }
}
