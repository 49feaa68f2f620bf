//! Submitted forms: the pages' one way to take a request body (name/value pairs, repeated names
//! allowed), with its CSRF check.

use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Redirect, Response};

use crate::admin_ui::session::Session;
use crate::admin_ui::view::{PageError, PageResult};
use crate::http::body::read_limited;
use crate::state::AppState;

pub struct Form(Vec<(String, String)>);

impl<S> FromRequest<S> for Form
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).config.max_body_bytes;
        let body = read_limited(req.into_body(), limit).await?;
        Ok(Form(
            url::form_urlencoded::parse(&body).into_owned().collect(),
        ))
    }
}

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn check_csrf(&self, state: &AppState, session: &Session) -> PageResult<()> {
        if session.check_csrf(state, self.get("csrf").unwrap_or_default()) {
            Ok(())
        } else {
            Err(PageError::forbidden(
                "The form expired or did not come from this site; reload the page and try again.",
            ))
        }
    }
}

pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
