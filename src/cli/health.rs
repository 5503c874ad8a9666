//! `gregor health`: GET /health from a broker's HTTP listener (--http-listen), for container
//! healthchecks in an image that has no curl.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The answer's body ("ok") when the status is 200; otherwise why not.
pub async fn check(address: &str, timeout: Duration) -> Result<String, String> {
    tokio::time::timeout(timeout, get(address))
        .await
        .map_err(|_| format!("no answer from {address} within {timeout:?}"))?
}

async fn get(address: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    let io = async {
        stream.write_all(request.as_bytes()).await?;
        // The responder closes the connection after one answer; a health answer is tiny.
        (&mut stream)
            .take(64 * 1024)
            .read_to_end(&mut response)
            .await
    };
    io.await.map_err(|e| format!("{address}: {e}"))?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) == Some("200") {
        Ok(body.trim().to_string())
    } else {
        Err(format!("{address}: unhealthy: {status} {}", body.trim()))
    }
}
