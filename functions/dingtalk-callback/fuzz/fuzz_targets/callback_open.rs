//! Fuzzes what an attacker controls after the signature: the ciphertext the decryptor opens and
//! the plaintext the event parser reads. Neither may panic, whatever the bytes.

#![no_main]

use dingbridge::dingtalk::crypto::{CallbackCrypto, open, verify_signature};
use dingbridge::dingtalk::events::parse_event;
use libfuzzer_sys::fuzz_target;

const AES_KEY: &str = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The decryptor on arbitrary text (mostly invalid Base64) and on arbitrary ciphertext bytes.
    if let Ok(crypto) = CallbackCrypto::new("token", AES_KEY, "dingappkey") {
        let _ = crypto.decrypt(&text);
        let _ = verify_signature("token", &text, "1", "n", &text);
        let mut key = [0u8; 32];
        key.iter_mut().zip(data).for_each(|(k, d)| *k = *d);
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        let _ = open(&key, &encoded);
        if let Ok(opened) = crypto.decrypt(&encoded) {
            let _ = parse_event(&opened);
        }
        // Arbitrary plaintext sealed properly must round-trip and parse without panicking.
        if let Ok(sealed) = crypto.encrypt(&text) {
            assert_eq!(crypto.decrypt(&sealed).ok().as_deref(), Some(text.as_ref()));
        }
    }
    let _ = parse_event(&text);
});
