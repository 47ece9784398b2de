//! The message catalogue (`messages.toml`): every label in Chinese and English.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh_cn" | "cn" => Some(Lang::Zh),
            "en" | "en-us" | "en-gb" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn other(&self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

const SOURCE: &str = include_str!("../messages.toml");

type Catalogue = HashMap<String, (String, String)>;

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| parse(SOURCE).unwrap_or_default())
}

/// Parses the catalogue; an error names the bad key. Checked by a test, so a broken catalogue
/// never ships.
pub fn parse(source: &str) -> Result<Catalogue, String> {
    let table: toml::Table = source.parse().map_err(|e| format!("messages.toml: {e}"))?;
    let mut out = HashMap::new();
    for (section, entries) in &table {
        let entries = entries.as_table().ok_or_else(|| format!("messages.toml: [{section}] must be a table"))?;
        for (key, value) in entries {
            let pair = value.as_array().filter(|a| a.len() == 2);
            let (zh, en) = match pair.map(|a| (a[0].as_str(), a[1].as_str())) {
                Some((Some(zh), Some(en))) => (zh.to_string(), en.to_string()),
                _ => return Err(format!("messages.toml: {section}.{key} must be [\"中文\", \"English\"]")),
            };
            out.insert(format!("{section}.{key}"), (zh, en));
        }
    }
    Ok(out)
}

/// The label for `key` in `lang`; an unknown key shows itself so it is noticed, never blank.
pub fn t(lang: Lang, key: &str) -> String {
    match catalogue().get(key) {
        Some((zh, en)) => match lang {
            Lang::Zh => zh.clone(),
            Lang::En => en.clone(),
        },
        None => key.to_string(),
    }
}

pub fn has(key: &str) -> bool {
    catalogue().contains_key(key)
}

/// The whole catalogue for one language, for the console's scripts.
pub fn all(lang: Lang) -> HashMap<&'static str, &'static str> {
    catalogue()
        .iter()
        .map(|(k, (zh, en))| {
            (
                k.as_str(),
                match lang {
                    Lang::Zh => zh.as_str(),
                    Lang::En => en.as_str(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuyu_core::roles::{OrgKind, Role};

    #[test]
    fn catalogue_parses_and_covers_roles_and_kinds() {
        let cat = parse(SOURCE).unwrap();
        assert!(cat.len() > 50);
        for role in Role::ALL {
            assert!(has(&role.label_key()), "missing {}", role.label_key());
        }
        for kind in OrgKind::ALL {
            assert!(has(&kind.label_key()), "missing {}", kind.label_key());
        }
        assert_eq!(t(Lang::Zh, "nav.home"), "首页");
        assert_eq!(t(Lang::En, "nav.home"), "Home");
    }

    #[test]
    fn broken_entries_are_named() {
        let err = parse("[nav]\nhome = [\"首页\"]\n").unwrap_err();
        assert!(err.contains("nav.home"));
    }
}
