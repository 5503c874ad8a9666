//! Any bytes an MQTT client sends: the CONNECT's version, then packet decoding, never panic and
//! never allocate beyond the packet limit.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gregor::fuzzing::decode_mqtt(data);
});
