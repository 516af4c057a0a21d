//! Request fingerprints for `Idempotency-Key` handling: the same publish retried must match
//! its first attempt byte for byte in meaning, whatever the JSON key order.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// SHA-256 over the canonical JSON of the body without `credentials`: a retry after a token
/// refresh carries a new access token but is still the same publish.
pub(crate) fn fingerprint(body: &Value) -> String {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("credentials");
    }
    let mut canonical = String::new();
    write_canonical(&body, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
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
