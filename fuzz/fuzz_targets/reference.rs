#![no_main]
//! Any string either parses into a reference that prints back to an equivalent one,
//! or is refused with an error; nothing panics.

use ecr_lambda_fuzz::reference::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(reference) = text.parse::<ImageRef>() {
        let printed = reference.to_string();
        let again: ImageRef = printed.parse().expect("a printed reference parses");
        assert_eq!(again, reference);
    }
});
