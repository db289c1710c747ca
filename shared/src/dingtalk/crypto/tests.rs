//! Callback crypto tests: the protocol reference's vectors V1–V6 (§1.7) and property tests.
use super::*;
use proptest::prelude::*;

const V1_KEY: &str = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";
const V1_RECEIVE_ID: &str = "suite4xxxxxxxxxxxxxxx";
const V1_ENCRYPT: &str = "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==";
const V1_PLAINTEXT: &str = r#"{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}"#;
const V4_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
const V4_RECEIVE_ID: &str = "ding6ccabc44d2c8d38b";
const FIXED_RANDOM: &[u8; 16] = b"1234567890123456";

fn v1() -> CallbackCrypto {
    CallbackCrypto::new("123456", V1_KEY, V1_RECEIVE_ID).unwrap()
}

fn v4() -> CallbackCrypto {
    CallbackCrypto::new("mryue", V4_KEY, V4_RECEIVE_ID).unwrap()
}

#[test]
fn v1_key_with_trailing_bits_decodes_to_the_documented_aes_key() {
    let key = decode_aes_key(V1_KEY).unwrap();
    assert_eq!(
        hex::encode(key),
        "e20e63eb8aa5ca5df3bdeb6ac73e638a871daf9f3a7e7db3be3a5af3396cde28"
    );
}

#[test]
fn v1_official_isv_event_verifies_and_decrypts() {
    let c = v1();
    let msg = c
        .verify_and_decrypt(
            "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0",
            "1445827045067",
            "nEXhMP4r",
            V1_ENCRYPT,
        )
        .unwrap();
    assert_eq!(msg, V1_PLAINTEXT);
}

#[test]
fn v1_internals_match_the_documented_derivation() {
    let key = decode_aes_key(V1_KEY).unwrap();
    let mut buf = STANDARD.decode(V1_ENCRYPT).unwrap();
    assert_eq!(buf.len(), 160);
    let plain = Dec::new_from_slices(&key, &key[..16])
        .unwrap()
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .unwrap()
        .to_vec();
    assert_eq!(&plain[..16], b"hU3bEfGZZewzhG5a");
    assert_eq!(&plain[16..20], &97u32.to_be_bytes());
    assert!(plain[138..].iter().all(|&b| b == 0x16));
    assert_eq!(plain.len() - 138, 22);
}

#[test]
fn v2_deterministic_encryption_is_byte_exact() {
    let reply = v1()
        .reply_with_random(V1_PLAINTEXT, "1445827045067", "nEXhMP4r", FIXED_RANDOM)
        .unwrap();
    assert_eq!(
        reply.encrypt,
        "5DJFWzjRNOQk+5GSZxW+VrFMDWCIidPjEjg3//gm5x556BedVi62rDj1F9uXU97a4jw1R4FACUv9RCpoDobNqxhxRB2YtW901k4KHbP1/wpFJ3xdLG0n0A8U1VhENg80zKJd+YROR0YMGum4WYuoXJ6J98vt0ihYeIFoapNddLML5MyNAGM9saSpkouDMSvD+iU14i7V8ix1ia1Tb9ogog=="
    );
    assert_eq!(
        reply.msg_signature,
        "bcf6dcefa4ce2dbaf7b0666c7264d46fd9aad4bd"
    );
}

#[test]
fn v3_official_success_check_decrypts_to_success() {
    let c = CallbackCrypto::new(
        "123456",
        "1234567890123456789012345678901234567890123",
        "dingsnotzck6pm5veliw",
    )
    .unwrap();
    let msg = c
        .verify_and_decrypt(
            "9a95a004dd16f5c307e849b994173f76aa26e5eb",
            "1614767836",
            "A7Co0cJLMzIDtMMI",
            "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==",
        )
        .unwrap();
    assert_eq!(msg, SUCCESS);
}

#[test]
fn v4_check_url_verifies_and_decrypts() {
    let msg = v4()
        .verify_and_decrypt(
            "03044561471240d4a14bb09372dfcfd4fd0e40cb",
            "1608001896814",
            "WL4PK6yA",
            "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3",
        )
        .unwrap();
    assert_eq!(msg, r#"{"EventType":"check_url"}"#);
}

#[test]
fn v5_success_replies_are_byte_exact() {
    let r1 = v1()
        .reply_with_random(SUCCESS, "1445827045067", "nEXhMP4r", FIXED_RANDOM)
        .unwrap();
    assert_eq!(
        r1.encrypt,
        "5DJFWzjRNOQk+5GSZxW+VpU/+Yf0KeplvXZ8LNdyQj5iN6tX2KSwwhy5oymzMpsFAiG4RS3L0/vY7TX4ZwLTFA=="
    );
    assert_eq!(r1.msg_signature, "73813ea128535f7945c17f81069c6b8045361375");
    let r4 = v4()
        .reply_with_random(SUCCESS, "1608001896814", "WL4PK6yA", FIXED_RANDOM)
        .unwrap();
    assert_eq!(
        r4.encrypt,
        "2UzJoJton0bJMAQF7A3bOGecNifPcoRPzahejI24sI4+k1oFTAPjw03IGqLyfWpFG9VlaslSWu0j5WIEWW1ggA=="
    );
    assert_eq!(r4.msg_signature, "4f2f20ec5b83e45538452fe888ed5ce3828b3b7c");
}

#[test]
fn v6_length_prefix_counts_utf8_bytes_not_chars() {
    let c = CallbackCrypto::new("123456", V1_KEY, "ding123").unwrap();
    let reply = c
        .reply_with_random(r#"{"name":"张三"}"#, "1", "n", FIXED_RANDOM)
        .unwrap();
    assert_eq!(
        reply.encrypt,
        "5DJFWzjRNOQk+5GSZxW+Voho6QKJeIJduhJt67J1YZvFwwKBZEkBP1mgdS2LOM0PGy/UasS3nGHJVkJvIhYkCA=="
    );
    assert_eq!(
        reply.msg_signature,
        "64ffa4742f16da0ec4a7f2b515ae1c13a8e620e6"
    );
    assert_eq!(c.decrypt(&reply.encrypt).unwrap(), r#"{"name":"张三"}"#);
}

#[test]
fn reply_serializes_with_camel_case_timestamp() {
    let reply = v1().success_reply("1445827045067", "nEXhMP4r").unwrap();
    let json = serde_json::to_value(&reply).unwrap();
    let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["encrypt", "msg_signature", "nonce", "timeStamp"]);
    assert_eq!(v1().decrypt(&reply.encrypt).unwrap(), SUCCESS);
}

#[test]
fn uppercase_signature_is_accepted_and_a_wrong_one_rejected() {
    let c = v1();
    let sig = "5A65CEEEF9AAB2D149439F82DC191DD6C5CBE2C0";
    assert!(
        c.verify_signature(sig, "1445827045067", "nEXhMP4r", V1_ENCRYPT)
            .is_ok()
    );
    assert_eq!(
        c.verify_signature(&sig[1..], "1445827045067", "nEXhMP4r", V1_ENCRYPT),
        Err(CryptoError::BadSignature)
    );
    assert_eq!(
        c.verify_signature(sig, "1445827045068", "nEXhMP4r", V1_ENCRYPT),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn wrong_receive_id_is_rejected_and_reported() {
    let c = CallbackCrypto::new("123456", V1_KEY, "dingcorp").unwrap();
    assert_eq!(
        c.decrypt(V1_ENCRYPT),
        Err(CryptoError::ReceiveIdMismatch {
            found: V1_RECEIVE_ID.to_owned()
        })
    );
}

#[test]
fn malformed_keys_tokens_and_receive_ids_are_rejected() {
    for key in [
        "",
        "short",
        &format!("{V1_KEY}a"),
        &V1_KEY.replace('4', "+"),
    ] {
        assert_eq!(decode_aes_key(key), Err(CryptoError::BadKey), "{key}");
    }
    assert_eq!(
        CallbackCrypto::new("", V1_KEY, "x").unwrap_err(),
        CryptoError::BadToken
    );
    assert_eq!(
        CallbackCrypto::new("a b", V1_KEY, "x").unwrap_err(),
        CryptoError::BadToken
    );
    assert_eq!(
        CallbackCrypto::new("t", V1_KEY, "").unwrap_err(),
        CryptoError::BadReceiveId
    );
}

#[test]
fn malformed_ciphertexts_get_typed_errors() {
    let c = v1();
    assert_eq!(c.decrypt("not base64!"), Err(CryptoError::BadBase64));
    assert_eq!(c.decrypt(""), Err(CryptoError::BadLength { len: 0 }));
    assert_eq!(
        c.decrypt(&STANDARD.encode([0u8; 15])),
        Err(CryptoError::BadLength { len: 15 })
    );
    // A block whose plaintext ends in 0x00 or > 32 fails the padding check.
    let key = decode_aes_key(V1_KEY).unwrap();
    let mut block = [0u8; 16];
    Enc::new_from_slices(&key, &key[..16])
        .unwrap()
        .encrypt_padded_mut::<NoPadding>(&mut block, 16)
        .unwrap();
    assert_eq!(
        c.decrypt(&STANDARD.encode(block)),
        Err(CryptoError::BadPadding)
    );
}

#[test]
fn length_prefix_beyond_the_plaintext_is_rejected() {
    let key = decode_aes_key(V1_KEY).unwrap();
    let mut plain = Vec::new();
    plain.extend_from_slice(FIXED_RANDOM);
    plain.extend_from_slice(&1000u32.to_be_bytes());
    plain.extend_from_slice(b"abc");
    plain.resize(32, 9);
    let mut buf = plain.clone();
    Enc::new_from_slices(&key, &key[..16])
        .unwrap()
        .encrypt_padded_mut::<NoPadding>(&mut buf, 32)
        .unwrap();
    assert_eq!(
        open(&key, &STANDARD.encode(&buf)),
        Err(CryptoError::BadLengthPrefix {
            declared: 1000,
            available: 3
        })
    );
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let c = v1();
    let debug = format!("{c:?}");
    assert!(!debug.contains("123456"), "{debug}");
    assert!(!debug.contains(V1_KEY));
    assert!(!debug.contains("e20e63eb"));
    let err = CallbackCrypto::new("123456", "bad-key-material", "x").unwrap_err();
    assert!(!err.to_string().contains("bad-key-material"));
}

#[test]
fn random_prefixes_and_nonces_are_alphanumeric_and_vary() {
    let a = random_nonce();
    let b = random_nonce();
    assert_eq!(a.len(), 16);
    assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(a, b);
    let c = v1();
    assert_ne!(c.encrypt("x").unwrap(), c.encrypt("x").unwrap());
}

#[test]
fn a_64_kib_message_round_trips() {
    let c = v1();
    let msg = "钉".repeat(64 * 1024 / 3);
    assert_eq!(c.decrypt(&c.encrypt(&msg).unwrap()).unwrap(), msg);
}

/// Arbitrary UTF-8 of 0 to 64 KiB (a char is 1–4 bytes, truncated at a char boundary).
fn utf8_upto_64k() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        proptest::collection::vec(any::<char>(), 0..=16 * 1024).prop_map(|chars| {
            let mut s = String::new();
            for ch in chars {
                if s.len() + ch.len_utf8() > 64 * 1024 {
                    break;
                }
                s.push(ch);
            }
            s
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn encrypt_then_decrypt_round_trips(msg in utf8_upto_64k(), random in any::<[u8; 16]>()) {
        let c = v4();
        let sealed = c.encrypt_with_random(&msg, &random).unwrap();
        prop_assert_eq!(STANDARD.decode(&sealed).unwrap().len() % PAD_BLOCK, 0);
        let sig = c.signature("1", "n", &sealed);
        prop_assert_eq!(c.verify_and_decrypt(&sig, "1", "n", &sealed).unwrap(), msg);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Property: with the signature checked first (as `verify_and_decrypt` does), flipping any
    /// single bit of the ciphertext yields `BadSignature` — the Base64 text changes, so SHA-1
    /// over it changes. Decryption alone is not an integrity check (CBC is malleable); for it the
    /// weaker property holds: a tampered ciphertext never opens to the original message.
    #[test]
    fn any_single_bit_flip_is_rejected(
        msg in ".{0,300}",
        random in any::<[u8; 16]>(),
        bit in any::<prop::sample::Index>(),
    ) {
        let c = v1();
        let sealed = c.encrypt_with_random(&msg, &random).unwrap();
        let sig = c.signature("1445827045067", "nEXhMP4r", &sealed);
        let mut raw = STANDARD.decode(&sealed).unwrap();
        let bit = bit.index(raw.len() * 8);
        raw[bit / 8] ^= 1 << (bit % 8);
        let tampered = STANDARD.encode(&raw);
        prop_assert_eq!(
            c.verify_and_decrypt(&sig, "1445827045067", "nEXhMP4r", &tampered),
            Err(CryptoError::BadSignature)
        );
        prop_assert_ne!(c.decrypt(&tampered), Ok(msg));
    }

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,400}", sig in "[0-9a-f]{0,41}") {
        let c = v1();
        let _ = c.decrypt(&s);
        let _ = c.verify_and_decrypt(&sig, "1", "n", &s);
        let _ = decode_aes_key(&s);
    }

    #[test]
    fn arbitrary_ciphertext_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let key = decode_aes_key(V4_KEY).unwrap();
        // Whole blocks reach the padding and length-prefix checks; other lengths stop earlier.
        let _ = open(&key, &STANDARD.encode(&bytes));
        let _ = v4().decrypt(&STANDARD.encode(&bytes));
    }

    /// Well-padded plaintexts of arbitrary content reach the length-prefix and UTF-8 checks.
    #[test]
    fn arbitrary_padded_plaintexts_never_panic(
        mut body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let key = decode_aes_key(V4_KEY).unwrap();
        let pad = PAD_BLOCK - body.len() % PAD_BLOCK;
        body.resize(body.len() + pad, pad as u8);
        let len = body.len();
        Enc::new_from_slices(&key, &key[..16])
            .unwrap()
            .encrypt_padded_mut::<NoPadding>(&mut body, len)
            .unwrap();
        let opened = open(&key, &STANDARD.encode(&body));
        let early = matches!(opened, Err(CryptoError::BadPadding | CryptoError::BadLength { .. }));
        prop_assert!(!early);
    }
}
