//! A small log damaged as the input says (bytes flipped, files truncated, garbage appended,
//! files removed), then opened and scrubbed: no panic, no read of a bad batch, nothing lost
//! before the damage.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gregor::log::fuzz_recover(data);
});
