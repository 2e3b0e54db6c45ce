//! Arbitrary text into the JSON decoder: it must never panic, and whatever it accepts must
//! survive a round trip through both encodings.
#![no_main]

use beryl_core::wire::{self, WireLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let limits = WireLimits::default();
    if let Ok(message) = wire::decode_json(text, &limits) {
        let again = wire::decode_json(&wire::encode_json(&message), &limits)
            .expect("an accepted message re-encodes to JSON the decoder accepts");
        assert_eq!(again, message);
        let from_binary = wire::decode_binary(&wire::encode_binary(&message), &limits)
            .expect("an accepted message re-encodes to bytes the decoder accepts");
        assert_eq!(from_binary, message);
    }
});
