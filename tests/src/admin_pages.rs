//! What the tests of the admin pages share: a client that shows redirects instead of following
//! them, and reading a page's CSRF field.

use reqwest::{Client, redirect};

/// A client that hands back redirects (the pages answer forms with 303s), keeping no cookies.
pub fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The CSRF token of the page's form.
pub fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..]
        .split('"')
        .next()
        .expect("a closing quote")
        .to_owned()
}
