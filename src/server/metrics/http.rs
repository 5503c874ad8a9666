//! A minimal HTTP/1.1 responder for `GET /metrics` and `GET /health`: one request per
//! connection, then close. Enough for Prometheus and container healthchecks without an HTTP
//! framework.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::Services;
use crate::metrics::exposition::CONTENT_TYPE;

/// Largest request head read; scrapers send a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// A client that sends no complete request head in this time is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(
    listener: TcpListener,
    services: Arc<Services>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (services, shutdown) = (services.clone(), shutdown.clone());
        // A slow client must not hold up shutdown, which waits for tracked tasks.
        tasks.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                result = respond(stream, &services) => if let Err(e) = result {
                    tracing::debug!(error = %e, "metrics: request failed");
                },
            }
        });
    }
}

async fn respond(mut stream: TcpStream, services: &Services) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let (status, content_type, body) = match parse_request_line(&head) {
        Some((method @ ("GET" | "HEAD"), path)) => {
            let (status, content_type, body) = match path {
                "/metrics" => (
                    "200 OK",
                    CONTENT_TYPE,
                    super::scrape::render(services).await,
                ),
                // The services accepts connections: the metrics listener starts after every
                // Kafka listener is bound and stops when shutdown begins.
                "/health" => ("200 OK", "text/plain; charset=utf-8", "ok\n".into()),
                _ => (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "not found\n".into(),
                ),
            };
            (
                status,
                content_type,
                if method == "HEAD" {
                    String::new()
                } else {
                    body
                },
            )
        }
        Some(_) => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n".into(),
        ),
        None => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".into(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Bytes up to the blank line that ends the head (or as many as arrived, up to MAX_HEAD).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// (method, path without query) of `METHOD /path HTTP/1.x`.
fn parse_request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    Some((method, path))
}

#[cfg(test)]
mod tests {
    use super::parse_request_line;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(
            parse_request_line(b"HEAD /health?x=1 HTTP/1.0\r\n\r\n"),
            Some(("HEAD", "/health"))
        );
        assert_eq!(parse_request_line(b"GET /metrics\r\n\r\n"), None);
        assert_eq!(parse_request_line(b"\xff\xfe"), None);
        assert_eq!(parse_request_line(b""), None);
    }
}
