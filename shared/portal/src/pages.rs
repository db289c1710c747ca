//! The portal's pages: askama templates (compiled into the binary, auto-escaped) under
//! `shared/portal/templates/`.

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
    /// The DingTalk users bound to the account.
    pub bindings: Vec<BindingRow>,
}

/// A DingTalk user bound to the signed-in account.
pub struct BindingRow {
    pub id: String,
    pub name: String,
    pub userid: String,
    pub corp_id: String,
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

#[derive(Template)]
#[template(path = "problem.html")]
pub struct Problem<'a> {
    pub title: &'a str,
    pub detail: &'a str,
    /// What the administrator must change, when it is theirs to fix.
    pub fix: Option<&'a str>,
    /// A way on: (label, URL).
    pub link: Option<(String, String)>,
}

pub fn problem(page: &Problem<'_>) -> String {
    render(page)
}

#[derive(Template)]
#[template(path = "bind.html")]
pub struct Bind<'a> {
    pub csrf: &'a str,
    pub name: &'a str,
    pub userid: &'a str,
    pub identifier: &'a str,
    pub error: Option<&'a str>,
}

pub fn bind(page: &Bind<'_>) -> String {
    render(page)
}

#[derive(Template)]
#[template(path = "micro.html")]
pub struct Micro<'a> {
    pub app_name: &'a str,
    pub corp_id: &'a str,
    /// The corp app's AppKey (`clientId` of `dd.requestAuthCode`).
    pub client_id: &'a str,
    pub agent_id: &'a str,
    pub app_id: &'a str,
    pub csrf: &'a str,
    pub qr_url: &'a str,
    pub scripts: Vec<String>,
}

pub fn micro(page: &Micro<'_>) -> String {
    render(page)
}
