//! Request fingerprints for `Idempotency-Key` handling: the same publish retried must match
//! its first attempt byte for byte in meaning, whatever the JSON key order.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// SHA-256 over the canonical JSON of the body without `credentials`: a retry after a token
/// refresh carries a new access token but is still the same publish.
pub(crate) fn fingerprint(body: &Value) -> String {
    let mut canonical = Vec::new();
    write_canonical(body, true, &mut canonical);
    hex::encode(Sha256::digest(&canonical))
}

/// Writes `value` with every object's keys sorted; `top` leaves out the top level's
/// `credentials`.
fn write_canonical(value: &Value, top: bool, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .keys()
                .filter(|k| !(top && k.as_str() == "credentials"))
                .collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(key, out);
                out.push(b':');
                write_canonical(&map[key], false, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, false, out);
            }
            out.push(b']');
        }
        other => write_scalar(other, out),
    }
}

fn write_scalar<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Serializing a JSON scalar into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_fingerprint_ignores_key_order_and_credentials() {
        let a = json!({"content": "hi", "accounts": ["a"], "credentials": [{"access_token": "1"}]});
        let b = json!({"accounts": ["a"], "credentials": [{"access_token": "2"}], "content": "hi"});
        let c = json!({"accounts": ["a"], "content": "bye"});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }
}
