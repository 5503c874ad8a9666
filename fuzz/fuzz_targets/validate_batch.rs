//! Any produced record batch (CRC fixed up): validation never panics, and what it accepts
//! decodes with exactly the records its header counts.
#![no_main]

libfuzzer_sys::fuzz_target!(|batch: &[u8]| {
    gregor::fuzzing::validate_batch(batch);
});
