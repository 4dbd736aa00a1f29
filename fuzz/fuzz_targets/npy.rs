//! Arbitrary bytes → the `.npy` reader used for `--input` and `--labels`
//! (`quantlens::io::parse_samples`), then everything the CLI does with the
//! result: split into samples, widen to i64 / f64.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = quantlens::io::parse_samples(data, "fuzz.npy") else { return };
    let _ = s.to_i64_vec();
    let _ = s.to_f64_vec();
    let samples = s.samples();
    assert_eq!(samples.len(), s.len());
});
