//! HTML: the demo index and the catalog page (minijinja templates compiled into the binary from
//! `www/templates/`), including the htmx list fragment. The catalog follows the product-catalog
//! example of Facet (RESTHeart's server-side templates): a `<tbody id="product-list">` fetched
//! again as an htmx fragment when the change stream reports a change, so the demo is the page a
//! Facet user would write.

use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{context, Environment};
use serde_json::Value;

use crate::error::{AppError, AppResult};

/// What representation of a collection the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Json,
    Page,
    /// htmx swap: only `<tbody id="product-list">…</tbody>`.
    Fragment,
}

pub fn wanted(headers: &HeaderMap) -> Wanted {
    let is_htmx = headers.get("hx-request").and_then(|v| v.to_str().ok()) == Some("true");
    if is_htmx {
        return Wanted::Fragment;
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.split(',').any(|t| t.trim().starts_with("text/html")) {
        Wanted::Page
    } else {
        Wanted::Json
    }
}

pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.add_template("index.html", include_str!("../templates/index.html"))?;
        env.add_template("catalog.html", include_str!("../templates/catalog.html"))?;
        env.add_template(
            "product_list.html",
            include_str!("../templates/product_list.html"),
        )?;
        Ok(Self { env })
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> AppResult<Response> {
        let html = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| AppError::internal(format!("template {name}: {e:#}")))?;
        Ok(Html(html).into_response())
    }

    pub fn index(&self) -> AppResult<Response> {
        self.render("index.html", context! {})
    }

    pub fn catalog(
        &self,
        wanted: Wanted,
        db: &str,
        coll: &str,
        documents: &[Value],
    ) -> AppResult<Response> {
        let ctx = context! { db, coll, documents };
        match wanted {
            Wanted::Fragment => self.render("product_list.html", ctx),
            _ => self.render("catalog.html", ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fragment_is_only_the_tbody_and_escapes() {
        let pages = Pages::new().unwrap();
        let docs = vec![
            json!({"_id": "1", "name": "<b>Lamp</b>", "price": 12}),
            json!({"_id": {"$oid": "62166d53ebdcd56455a1a7ab"}, "name": "Desk"}),
        ];
        let resp = pages
            .catalog(Wanted::Fragment, "shop", "products", &docs)
            .unwrap();
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let html = pages
            .env
            .get_template("product_list.html")
            .unwrap()
            .render(context! { db => "shop", coll => "products", documents => docs })
            .unwrap();
        assert!(
            html.trim_start().starts_with("<tbody id=\"product-list\""),
            "{html}"
        );
        assert!(html.trim_end().ends_with("</tbody>"));
        assert!(
            html.contains("&lt;b&gt;Lamp") && !html.contains("<b>"),
            "autoescaped: {html}"
        );
        // A string id as it is, an ObjectId by its hex digits (as its URL names it).
        assert!(html.contains(r#"<tr data-id="1">"#), "{html}");
        assert!(
            html.contains(r#"<tr data-id="62166d53ebdcd56455a1a7ab">"#)
                && html.contains("<code>62166d53ebdcd56455a1a7ab</code>"),
            "{html}"
        );
    }

    #[test]
    fn negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(wanted(&h), Wanted::Json);
        h.insert(
            header::ACCEPT,
            "text/html,application/xhtml+xml".parse().unwrap(),
        );
        assert_eq!(wanted(&h), Wanted::Page);
        h.insert("hx-request", "true".parse().unwrap());
        assert_eq!(wanted(&h), Wanted::Fragment);
    }
}
