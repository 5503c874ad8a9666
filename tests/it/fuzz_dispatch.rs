//! Arbitrary request frames never panic the broker: each is either answered or refused
//! (connection closed), and the broker keeps serving.

use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use gregor::api::{dispatch, Dispatch, ListenerInfo, APIS};
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_frames_are_answered_or_refused(api in 0usize..APIS.len(), version in -1i16..20, tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        let rt = runtime();
        rt.block_on(async {
            let running = common::broker(None).await;
            let listener = Arc::new(ListenerInfo { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 });
            let mut frame = Vec::new();
            frame.extend_from_slice(&(APIS[api].key as i16).to_be_bytes());
            frame.extend_from_slice(&version.to_be_bytes());
            frame.extend_from_slice(&tail);
            match dispatch(&running.services, &listener, Bytes::from(frame)) {
                Dispatch::Respond(f) => {
                    // Bounded: a valid-looking fetch may long-poll.
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), f).await;
                }
                Dispatch::Close(_) => {}
            }
            running.shutdown().await;
        });
    }
}
