//! The console's languages: Chinese (the default) and English, and the lookup of a page's words
//! (`words`, `form_words`). A missing key shows itself, so a page never fails over a word.

use super::form_words::FORM_WORDS;
use super::words::WORDS;

/// A page's language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }
}

/// The words of one language, for the templates.
#[derive(Clone, Copy, Debug)]
pub struct Text(pub Lang);

impl Text {
    /// The word for `key` in this language.
    pub fn s(&self, key: &str) -> &'static str {
        match WORDS.iter().chain(FORM_WORDS).find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self.0 {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => "?",
        }
    }

    /// A form field's label (`f.{name}`).
    pub fn label(&self, name: &str) -> &'static str {
        self.s(&format!("f.{name}"))
    }

    /// A form field's explanation (`f.{name}.help`).
    pub fn help(&self, name: &str) -> &'static str {
        self.s(&format!("f.{name}.help"))
    }

    /// A select's option (`o.{value}`).
    pub fn option(&self, value: &str) -> &'static str {
        self.s(&format!("o.{value}"))
    }

    /// The console's sections: (path, page, title).
    pub fn nav(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        [
            ("/admin", "overview", "nav.overview"),
            ("/admin/imports", "imports", "nav.imports"),
            ("/admin/sync", "sync", "nav.sync"),
            ("/admin/directory", "directory", "nav.directory"),
            ("/admin/sign-in", "sign_in", "nav.sign_in"),
            ("/admin/security", "security", "nav.security"),
            ("/admin/roles", "roles", "nav.roles"),
            ("/admin/audit", "audit", "nav.audit"),
        ]
        .into_iter()
        .map(|(path, page, key)| (path, page, self.s(key)))
        .collect()
    }

    /// The account fields of the directory's forms: (name, required when creating).
    pub fn account_fields(&self) -> [(&'static str, bool); 7] {
        [
            ("username", true),
            ("display_name", true),
            ("mobile", false),
            ("email", false),
            ("job_number", false),
            ("title", false),
            ("password", false),
        ]
    }

    /// The words the page's script shows (`js.*`), as a JSON object for `data-words`.
    pub fn script_words(&self) -> String {
        let words: serde_json::Map<String, serde_json::Value> = WORDS
            .iter()
            .filter(|(k, _, _)| k.starts_with("js."))
            .map(|(k, _, _)| ((*k).to_owned(), self.s(k).into()))
            .collect();
        serde_json::Value::Object(words).to_string()
    }

    pub fn html_lang(&self) -> &'static str {
        self.0.code()
    }

    /// The other language's code, for the switch.
    pub fn other_lang(&self) -> &'static str {
        match self.0 {
            Lang::Zh => "en",
            Lang::En => "zh",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_both_languages_and_keys_are_unique() {
        let mut keys: Vec<&str> = WORDS.iter().chain(FORM_WORDS).map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is listed twice");
        for (k, zh, en) in WORDS.iter().chain(FORM_WORDS) {
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(Text(Lang::En).s("nav.roles"), "Administrators");
        assert_eq!(Text(Lang::Zh).s("nav.roles"), "管理员");
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }

    /// Every word a template or the connector form names exists (a missing one would show "?").
    #[test]
    fn every_word_the_pages_use_exists() {
        let templates = [
            include_str!("../../templates/console/base.html"),
            include_str!("../../templates/console/overview.html"),
            include_str!("../../templates/console/imports.html"),
            include_str!("../../templates/console/run.html"),
            include_str!("../../templates/console/sign_in.html"),
            include_str!("../../templates/console/roles.html"),
            include_str!("../../templates/console/gate.html"),
            include_str!("../../templates/console/connector.html"),
            include_str!("../../templates/console/sync.html"),
            include_str!("../../templates/console/directory.html"),
            include_str!("../../templates/console/accounts_table.html"),
            include_str!("../../templates/console/account.html"),
            include_str!("../../templates/console/security.html"),
            include_str!("../../templates/console/audit.html"),
            include_str!("../../templates/console/source_fields.html"),
            include_str!("../../templates/console/app_fields.html"),
            include_str!("../../templates/console/source.html"),
            include_str!("../../templates/console/app.html"),
        ];
        let t = Text(Lang::En);
        let mut used = Vec::new();
        for page in templates {
            for (open, wrap) in [("t.s(\"", ""), ("t.label(\"", "f."), ("t.help(\"", "f.")] {
                for piece in page.split(open).skip(1) {
                    let key = piece.split('"').next().unwrap_or_default();
                    let full = if wrap.is_empty() {
                        key.to_owned()
                    } else if open.starts_with("t.help") {
                        format!("f.{key}.help")
                    } else {
                        format!("f.{key}")
                    };
                    used.push(full);
                }
            }
        }
        for (_, fields) in super::super::pages::CONNECTOR_FORM {
            for f in *fields {
                used.push(format!("f.{}", f.name));
                used.push(format!("f.{}.help", f.name));
                for o in f.options {
                    used.push(format!("o.{o}"));
                }
            }
        }
        used.extend(["subject".to_owned(), "preferred_username".to_owned()]);
        for (name, _) in t.account_fields() {
            used.push(format!("f.{name}"));
        }
        for (_, _, title) in t.nav() {
            assert_ne!(title, "?");
        }
        assert!(used.len() > 100, "{}", used.len());
        let missing: Vec<&String> = used.iter().filter(|k| t.s(k) == "?").collect();
        assert!(missing.is_empty(), "no word for {missing:?}");
        // The script's words reach it.
        let words: serde_json::Value = serde_json::from_str(&t.script_words()).unwrap_or_default();
        assert_eq!(words["js.saved"], "Saved");
    }
}
