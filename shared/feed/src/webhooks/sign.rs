//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}` with the endpoint's secret, sent as `v1,<base64>`;
//! several signatures (a rotation's old and new secret) are separated by spaces. Secrets are
//! `whsec_` followed by the base64 of 32 random bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A secret that is not `whsec_<base64>` of at least 24 bytes (the specification's minimum).
#[derive(Debug, thiserror::Error)]
#[error("a webhook secret must be whsec_ followed by the base64 of 24 to 64 bytes")]
pub struct BadSecret;

/// A new random secret.
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a secret.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let encoded = secret.strip_prefix(PREFIX).ok_or(BadSecret)?;
    let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
    if (24..=64).contains(&key.len()) {
        Ok(key)
    } else {
        Err(BadSecret)
    }
}

/// The `v1,<base64>` signature of one message with one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, BadSecret> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&decode_secret(secret)?).map_err(|_| BadSecret)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per live secret, space-separated.
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> Result<String, BadSecret> {
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect::<Result<Vec<_>, BadSecret>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The specification's published example (also Svix's and every official library's).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specification_example() {
        assert_eq!(
            sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap(),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let new = new_secret();
        let both = header(&[&new, SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        let (first, second) = both.split_once(' ').unwrap();
        assert_eq!(second, SPEC_SIGNATURE);
        assert_ne!(first, SPEC_SIGNATURE);
        assert!(first.starts_with("v1,"));
    }

    #[test]
    fn secrets_are_prefixed_random_keys() {
        let secret = new_secret();
        assert_eq!(decode_secret(&secret).unwrap().len(), 32);
        assert_ne!(secret, new_secret());
        assert!(decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(decode_secret("whsec_c2hvcnQ=").is_err());
        assert!(decode_secret("whsec_***").is_err());
    }
}
