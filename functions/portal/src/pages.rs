//! The portal's pages: askama templates (compiled into the binary, auto-escaped) under
//! `functions/portal/templates/`.

use askama::Template;

/// Renders a page; a template that fails to render (it cannot, short of a bug) becomes a line
/// of text rather than a panic.
fn render<T: Template>(page: &T) -> String {
    page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a page failed to render");
        "internal error".to_owned()
    })
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    detail: &'a str,
}

/// A page that says one thing (errors, notices).
pub fn message(title: &str, detail: &str) -> String {
    render(&Message { title, detail })
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct Login<'a> {
    pub csrf: &'a str,
    pub next: &'a str,
    pub identifier: &'a str,
    pub error: Option<&'a str>,
    /// The enabled auth sources' buttons: (label, URL).
    pub sources: Vec<(String, String)>,
}

pub fn login(page: &Login<'_>) -> String {
    render(page)
}

#[derive(Template)]
#[template(path = "password.html")]
pub struct Password<'a> {
    pub csrf: &'a str,
    pub next: &'a str,
    pub forced: bool,
    pub error: Option<&'a str>,
    /// The policy in words.
    pub policy: &'a str,
}

pub fn password(page: &Password<'_>) -> String {
    render(page)
}

/// One app tile.
pub struct AppTile {
    pub client_id: String,
    pub name: String,
    pub icon_url: Option<String>,
    /// The first character of the name, for apps without an icon.
    pub initial: String,
}

#[derive(Template)]
#[template(path = "portal.html")]
pub struct Home<'a> {
    pub csrf: &'a str,
    pub display_name: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub mobile: &'a str,
    pub apps: Vec<AppTile>,
}

pub fn home(page: &Home<'_>) -> String {
    render(page)
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct Logout<'a> {
    pub csrf: &'a str,
    pub app_name: Option<&'a str>,
    pub client_id: &'a str,
    pub redirect: &'a str,
    pub state: &'a str,
}

pub fn logout(page: &Logout<'_>) -> String {
    render(page)
}
