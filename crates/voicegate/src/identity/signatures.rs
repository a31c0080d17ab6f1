//! HMAC-signed requests, the VocaliD scheme exactly: `Authorization: signature=<hex>,
//! nonce=<nonce>, timestamp=<ISO 8601>`, where the signature is hex HMAC-SHA256(secret, hex
//! SHA-256 of "METHOD\nPATH\nQUERY-AS-SENT\nNONCE\nhex SHA-256(raw body)\nTIMESTAMP"), and the key is
//! named by the request's `api_key` parameter.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;

/// Prefix of public API key ids.
pub const KEY_PREFIX: &str = "vgk_";

/// How far a request's timestamp may be from the server's clock, in seconds.
pub const WINDOW_SECS: i64 = 300;

/// The parts of a signed request's `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The signature, decoded from hex.
    pub signature: [u8; 32],
    /// The client's nonce.
    pub nonce: String,
    /// The timestamp as sent.
    pub timestamp: String,
}

/// Whether an `Authorization` value is a signature header (rather than `Bearer …`).
pub fn is_signature_header(value: &str) -> bool {
    value.trim_start().starts_with("signature=")
}

/// Parses `signature=<hex>, nonce=<nonce>, timestamp=<ISO 8601>` (any order, each part once).
pub fn parse_header(value: &str) -> Option<SignatureHeader> {
    let (mut signature, mut nonce, mut timestamp) = (None, None, None);
    for part in value.split(',') {
        let (name, content) = part.trim().split_once('=')?;
        let slot = match name.trim() {
            "signature" => &mut signature,
            "nonce" => &mut nonce,
            "timestamp" => &mut timestamp,
            _ => return None,
        };
        if slot.replace(content.trim()).is_some() {
            return None;
        }
    }
    let signature = decode_hex(signature?)?;
    let (nonce, timestamp) = (nonce?, timestamp?);
    if nonce.is_empty() || nonce.len() > 128 || timestamp.len() > 40 {
        return None;
    }
    Some(SignatureHeader {
        signature,
        nonce: nonce.to_string(),
        timestamp: timestamp.to_string(),
    })
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(bytes)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = vec![0u8; bytes.len() * 2];
    hex_into(bytes, &mut text);
    String::from_utf8(text).expect("hex digits are ASCII")
}

/// Writes the lowercase hex of `bytes` into `out`, which holds twice as many bytes.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

/// Parses an ISO 8601 UTC timestamp, `YYYY-MM-DDTHH:MM:SS` with an optional fraction of a
/// second (`.` and digits) and an optional `Z` or `+00:00`, as Unix seconds. The date must exist
/// (years 1 to 9999); a leap second (`:60`) is the next minute's first.
pub fn parse_timestamp(text: &str) -> Option<UnixTime> {
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .unwrap_or(text);
    let (whole, fraction) = text.split_at_checked(19)?;
    let fraction_ok = fraction.is_empty()
        || fraction
            .strip_prefix('.')
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    let bytes = whole.as_bytes();
    let separators = bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !fraction_ok || !separators {
        return None;
    }
    let number = |at: std::ops::Range<usize>| {
        bytes[at].iter().try_fold(0i64, |n, &digit| {
            digit
                .is_ascii_digit()
                .then(|| n * 10 + i64::from(digit - b'0'))
        })
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let valid = year >= 1
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60;
    if !valid {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// The days of `month` (1 to 12) in `year` (Gregorian).
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The hex SHA-256 of the string the signature covers.
pub fn digest_to_sign(
    method: &str,
    path: &str,
    query: &str,
    nonce: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    let mut data = Sha256::new();
    for part in [method, path, query, nonce] {
        data.update(part.as_bytes());
        data.update(b"\n");
    }
    let mut body_digest = [0u8; 64];
    hex_into(&Sha256::digest(body), &mut body_digest);
    data.update(body_digest);
    data.update(b"\n");
    data.update(timestamp.as_bytes());
    hex(&data.finalize())
}

/// The stored form of an API secret: its SHA-256. The secrets voicegate makes are longer than
/// HMAC-SHA256's 64-byte block, and HMAC keys with the SHA-256 of such a key, so this is the very
/// key HMAC uses.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Checks `signature` against the digest, keyed with the secret's hash, in constant time.
pub fn signature_matches(secret_hash: &[u8; 32], digest_hex: &str, signature: &[u8]) -> bool {
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret_hash).expect("any key length");
    mac.update(digest_hex.as_bytes());
    mac.verify_slice(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_and_without_zone_and_fraction() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("2026-11-25T15:53:10.123456"),
            Some(1_795_621_990)
        );
        assert_eq!(parse_timestamp("2026-11-25T15:53:10Z"), Some(1_795_621_990));
        assert_eq!(
            parse_timestamp("2026-11-25T15:53:10.5+00:00"),
            Some(1_795_621_990)
        );
        assert_eq!(parse_timestamp("2024-02-29T12:00:00"), Some(1_709_208_000));
        for bad in [
            "2026-13-01T00:00:00",
            "2026-11-25 15:53:10",
            "yesterday",
            "2026-11-25T15:53",
            "2026-11-25T15:53:10.x",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_parse_in_any_order_and_junk_is_refused() {
        let sig = "ab".repeat(32);
        let parsed = parse_header(&format!(
            "nonce=n1, timestamp=2026-01-01T00:00:00, signature={sig}"
        ))
        .unwrap();
        assert_eq!((parsed.nonce.as_str(), parsed.signature.len()), ("n1", 32));
        assert!(parse_header(&format!("signature={sig}, nonce=n1")).is_none());
        assert!(parse_header("signature=zz, nonce=n1, timestamp=t").is_none());
        assert!(parse_header(&format!("signature={sig}, nonce=a, nonce=b, timestamp=t")).is_none());
        let upper = parse_header(&format!(
            "signature={}, nonce=n, timestamp=t",
            "AB".repeat(32)
        ));
        assert_eq!(upper.unwrap().signature, [0xab; 32]);
        let signed = format!("signature=+{}, nonce=n, timestamp=t", "a".repeat(63));
        assert!(parse_header(&signed).is_none(), "a sign is not a hex digit");
    }

    #[test]
    fn the_signed_string_is_the_documented_one() {
        let body_digest = hex(&Sha256::digest(b"{}"));
        let expected = format!("POST\n/p\na=1\nn1\n{body_digest}\n2026-01-01T00:00:00Z");
        assert_eq!(
            digest_to_sign("POST", "/p", "a=1", "n1", b"{}", "2026-01-01T00:00:00Z"),
            hex(&Sha256::digest(expected.as_bytes()))
        );
    }

    #[test]
    fn a_hashed_long_secret_keys_hmac_like_the_secret_itself() {
        let secret = "s".repeat(86);
        let mut direct =
            <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        direct.update(b"digest");
        let signature = direct.finalize().into_bytes();
        assert!(signature_matches(
            &secret_hash(&secret),
            "digest",
            &signature
        ));
    }

    /// Found by the `signature_header` fuzz target: a five-digit year and a one-digit month
    /// passed as ISO 8601. Only `YYYY-MM-DDTHH:MM:SS` of a date that exists is one.
    #[test]
    fn only_iso_8601_dates_that_exist_are_timestamps() {
        for bad in [
            "00010-1-01T00:00:00.5+00:00",
            "2026-1-01T00:00:00",
            "2026-01-01T0:00:00",
            "+2026-01-01T00:00:00",
            "2026-+1-01T00:00:00",
            "2026-02-29T00:00:00",
            "2026-04-31T00:00:00",
            "0000-01-01T00:00:00",
            "2026-01-01T00:00:00.",
            "2026-01-01T00:00:00.5.5",
            "2026-01-01T00:00:00Z+00:00",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamp("2024-02-29T00:00:00"), Some(1_709_164_800));
        assert_eq!(parse_timestamp("2026-12-31T23:59:60Z"), Some(1_798_761_600));
        assert_eq!(
            parse_timestamp("0001-01-01T00:00:00"),
            Some(-62_135_596_800)
        );
        assert_eq!(
            parse_timestamp("9999-12-31T23:59:59"),
            Some(253_402_300_799)
        );
    }

    /// Any year, month, day and time of day, well-formed or not: parsing never overflows, and a
    /// time it accepts lies between years 1 and 9999.
    #[test]
    fn any_timestamp_parses_without_overflow() {
        let years = [
            "0",
            "1",
            "1969",
            "1970",
            "2026",
            "9999",
            "10000",
            "-1",
            "-9999999",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "1000000000000000000",
            "0000000000000000002026",
        ];
        let numbers = [
            "0",
            "1",
            "2",
            "12",
            "13",
            "28",
            "31",
            "59",
            "60",
            "61",
            "-1",
            "99999999999",
        ];
        let mut seen = 0;
        for year in years {
            for (i, month) in numbers.iter().enumerate() {
                let day = numbers[(i + 3) % numbers.len()];
                for second in ["00", "60", "59.999", "5x"] {
                    let text = format!("{year}-{month}-{day}T23:{}:{second}Z", numbers[i % 6]);
                    if let Some(at) = parse_timestamp(&text) {
                        assert!(
                            (-62_135_596_800..=253_402_300_800).contains(&at),
                            "{text} gave {at}"
                        );
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen > 500);
        // Random bytes too.
        for _ in 0..2000 {
            let bytes = crate::ids::random_bytes::<24>();
            let text: String = bytes
                .iter()
                .map(|b| char::from(b"0123456789-:TZ.+"[usize::from(b % 16)]))
                .collect();
            let _ = parse_timestamp(&text);
        }
        assert_eq!(parse_timestamp("2026-12-01T22:48:39Z"), Some(1_796_165_319));
    }
}
