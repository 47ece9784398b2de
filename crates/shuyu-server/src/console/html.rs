//! The page frame and HTML escaping.

use axum::response::{IntoResponse, Response};

use crate::i18n::{t, Lang};

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub struct Page {
    pub lang: Lang,
    pub title: String,
    pub user_line: Option<String>,
    pub menu: Vec<(String, &'static str)>,
    pub active: String,
    pub body: String,
}

fn head(lang: Lang, title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · {}</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\"><script src=\"/console/assets/console.js\" defer></script></head>",
        if lang == Lang::En { "en" } else { "zh-CN" },
        esc(title),
        esc(&t(lang, "app.name"))
    )
}

/// A page without the frame (the sign-in page).
pub fn bare(lang: Lang, title: &str, body: &str) -> Response {
    let html =
        format!("{}<body>{body}<footer>{}</footer></body></html>", head(lang, title), esc(&t(lang, "app.footer")));
    (crate::html_headers(), html).into_response()
}

impl Page {
    pub fn render(self) -> Response {
        let lang = self.lang;
        let nav = self
            .menu
            .iter()
            .map(|(label, href)| {
                let class = if *href == self.active { " class=\"active\"" } else { "" };
                format!("<a href=\"{href}\"{class}>{}</a>", esc(label))
            })
            .collect::<String>();
        let who = match &self.user_line {
            Some(line) => format!(
                "<span>{}：{}</span><a href=\"/console/lang/{}?next={}\">{}</a><button id=\"logout\" type=\"button\">{}</button>",
                esc(&t(lang, "app.signed_in_as")),
                esc(line),
                lang.other().code(),
                esc(if self.active.is_empty() { "/console" } else { &self.active }),
                esc(&t(lang, "app.switch_language")),
                esc(&t(lang, "app.logout"))
            ),
            None => String::new(),
        };
        let html = format!(
            "{head}<body><header class=\"top\"><div class=\"brand\">{name}<small>{tagline}</small></div><div class=\"who\">{who}</div></header>\
             <div class=\"layout\"><nav class=\"side\" id=\"menu\">{nav}</nav><main>{body}</main></div><footer>{footer}</footer></body></html>",
            head = head(lang, &self.title),
            name = esc(&t(lang, "app.name")),
            tagline = esc(&t(lang, "app.tagline")),
            body = self.body,
            footer = esc(&t(lang, "app.footer")),
        );
        (crate::html_headers(), html).into_response()
    }
}

/// A public portal page: the portal's own links instead of the role menu.
pub fn public_page(lang: Lang, title: &str, body: &str) -> Response {
    let links = [
        ("nav.public_catalogue", "/public/catalogue"),
        ("nav.publicity", "/public/publicity"),
        ("nav.verify", "/public/verify"),
        ("nav.public_requests", "/public/data-requests"),
        ("login.title", "/console/login"),
    ]
    .iter()
    .map(|(key, href)| format!("<a href=\"{href}\">{}</a>", esc(&t(lang, key))))
    .collect::<String>();
    let html = format!(
        "{head}<body><header class=\"top\"><div class=\"brand\">{name}<small>{tagline}</small></div>\
         <div class=\"who\">{links}<a href=\"/console/lang/{other}?next=/public/catalogue\">{switch}</a></div></header>\
         <main class=\"public\">{body}</main><footer>{footer}</footer></body></html>",
        head = head(lang, title),
        name = esc(&t(lang, "app.name")),
        tagline = esc(&t(lang, "app.tagline")),
        other = lang.other().code(),
        switch = esc(&t(lang, "app.switch_language")),
        footer = esc(&t(lang, "app.footer")),
    );
    (crate::html_headers(), html).into_response()
}
