//! The routes, and what every request gets: a bounded body (`max_message_bytes`), a deadline,
//! JSON errors for unknown paths and methods.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

use super::consumers_v2::routes as consumers;
use super::error::HttpError;
use super::{admin_v3, auth, groups_v3, openapi, produce_v2, records_v3, scrape, topics_v2, Gw};
use crate::metrics::exposition::CONTENT_TYPE;

/// A request (its body read included) not answered in this time gets 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route gregor serves over HTTP. `openapi.json` lists the same (a test checks).
pub fn router(gateway: Gw) -> Router {
    let limit = gateway.services.config.max_message_bytes as usize;
    let v3 = "/v3/clusters/{cluster_id}";
    let instance = "/consumers/{group}/instances/{instance}";
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::document))
        .route("/topics", get(topics_v2::list))
        .route(
            "/topics/{topic}",
            get(topics_v2::describe).post(produce_v2::to_topic),
        )
        .route(
            "/topics/{topic}/partitions/{partition}",
            post(produce_v2::to_partition),
        )
        .route("/consumers/{group}", post(consumers::create))
        .route(instance, delete(consumers::delete))
        .route(
            &format!("{instance}/subscription"),
            get(consumers::subscription)
                .post(consumers::subscribe)
                .delete(consumers::unsubscribe),
        )
        .route(
            &format!("{instance}/assignments"),
            get(consumers::assignments).post(consumers::assign),
        )
        .route(&format!("{instance}/positions"), post(consumers::seek))
        .route(
            &format!("{instance}/positions/beginning"),
            post(consumers::seek_beginning),
        )
        .route(
            &format!("{instance}/positions/end"),
            post(consumers::seek_end),
        )
        .route(
            &format!("{instance}/offsets"),
            get(consumers::committed).post(consumers::commit),
        )
        .route(&format!("{instance}/records"), get(consumers::records))
        .route("/v3/clusters", get(admin_v3::clusters))
        .route(v3, get(admin_v3::cluster))
        .route(
            &format!("{v3}/topics"),
            get(admin_v3::topics).post(admin_v3::create_topic),
        )
        .route(
            &format!("{v3}/topics/{{topic}}"),
            get(admin_v3::topic).delete(admin_v3::delete_topic),
        )
        .route(
            &format!("{v3}/topics/{{topic}}/partitions"),
            get(admin_v3::partitions),
        )
        .route(
            &format!("{v3}/topics/{{topic}}/configs"),
            get(admin_v3::configs),
        )
        .route(
            &format!("{v3}/topics/{{topic}}/records"),
            post(records_v3::produce),
        )
        .route(&format!("{v3}/consumer-groups"), get(groups_v3::groups))
        .route(
            &format!("{v3}/consumer-groups/{{group}}"),
            get(groups_v3::group),
        )
        .route(
            &format!("{v3}/consumer-groups/{{group}}/lag-summary"),
            get(groups_v3::lag_summary),
        )
        .route(
            &format!("{v3}/consumer-groups/{{group}}/lags"),
            get(groups_v3::lags),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            gateway.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn(deadline))
        .with_state(gateway)
}

async fn deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => HttpError::plain(
            StatusCode::REQUEST_TIMEOUT,
            format!("no answer within {REQUEST_TIMEOUT:?}"),
        )
        .into_response(),
    }
}

async fn not_found() -> HttpError {
    HttpError::plain(StatusCode::NOT_FOUND, "HTTP 404 Not Found")
}

async fn method_not_allowed() -> HttpError {
    HttpError::plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    )
}

/// Prometheus exposition of the broker's counters and state.
async fn metrics(State(gw): State<Gw>) -> Response {
    let text = scrape::render(&gw.services).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// 200 "ok": the listener starts after every Kafka listener accepts, and stops at shutdown.
async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "ok\n",
    )
        .into_response()
}
