//! Any request frame: header and body decoding neither panic nor allocate without bound.
#![no_main]

libfuzzer_sys::fuzz_target!(|frame: &[u8]| {
    gregor::fuzzing::decode_request(frame);
});
