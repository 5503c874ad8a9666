//! The metrics listener (`--metrics-listen`): `GET /metrics` renders a scrape of the
//! services' counters and state, `GET /health` answers once every Kafka listener accepts.

pub mod http;
pub mod scrape;
