//! Access tokens (HS256 JWTs, short-lived, carrying a `kid` so keys can rotate) and opaque
//! refresh tokens (random, stored only as SHA-256 hashes).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use jwt_simple::prelude::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{ApiError, domain::Role, time::Timestamp};

const ISSUER: &str = "claude-tui";

#[derive(Clone)]
struct Key {
    kid: String,
    key: HS256Key,
}

/// The active signing key and the older ones still accepted for verification.
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<Key>,
    /// Derives each refresh token's successor (see [`SigningKeys::child_refresh_token`]).
    refresh_key: [u8; 32],
    verified: Arc<Mutex<HashMap<String, Verified>>>,
}

/// A token whose signature and claims checked out, and until when it is good.
#[derive(Clone)]
struct Verified {
    grant: AccessGrant,
    until_s: u64,
}

/// How many verified tokens are remembered. A client sends the same access token with every
/// request until it expires, and checking its signature again (base64, HMAC, JSON) was the
/// largest share of an authenticated read's own work; remembering it by its exact text gives
/// the same answer, since the same text carries the same signature and claims. Only tokens
/// that checked out are remembered, and the table is emptied when full.
const VERIFIED_CAPACITY: usize = 10_000;

/// The leeway on token times (clock skew between instances).
const TOLERANCE_S: u64 = 5;

/// The longest token looked at; ours are about 400 bytes.
const MAX_TOKEN_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AccessClaims {
    sid: Uuid,
    roles: Vec<Role>,
}

/// Why signing keys could not be made from a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a signing secret must be at least 32 bytes")]
pub struct ShortSecret;

/// Why an access token could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("the access token could not be signed: {0}")]
pub struct SigningError(jwt_simple::Error);

impl From<SigningError> for ApiError {
    fn from(error: SigningError) -> Self {
        ApiError::internal(error)
    }
}

/// What a valid access token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub roles: Vec<Role>,
}

impl SigningKeys {
    /// `active` signs; `previous` only verify. The key id is derived from the secret, so every
    /// instance configured with the same secret agrees on it without further configuration.
    pub fn new(active: &str, previous: &[&str]) -> Result<Self, ShortSecret> {
        let keys = std::iter::once(active)
            .chain(previous.iter().copied())
            .map(|secret| {
                if secret.len() < 32 {
                    return Err(ShortSecret);
                }
                let kid = sha256_hex(secret.as_bytes())[..16].to_owned();
                Ok(Key { key: HS256Key::from_bytes(secret.as_bytes()).with_key_id(&kid), kid })
            })
            .collect::<Result<_, _>>()?;
        let refresh_key =
            Sha256::new().chain_update(b"claude-tui refresh-token successor\0").chain_update(active.as_bytes()).finalize().into();
        Ok(Self { keys, refresh_key, verified: Arc::default() })
    }

    pub fn active_kid(&self) -> &str {
        &self.keys[0].kid
    }

    pub fn issue(&self, grant: &AccessGrant, now: Timestamp, ttl: std::time::Duration) -> Result<String, SigningError> {
        let issued = Duration::from_secs(now.unix_timestamp().max(0) as u64);
        let mut claims = Claims::with_custom_claims(
            AccessClaims { sid: grant.session_id, roles: grant.roles.clone() },
            Duration::from_secs(ttl.as_secs()),
        )
        .with_issuer(ISSUER)
        .with_subject(grant.user_id);
        claims.issued_at = Some(issued);
        claims.invalid_before = Some(issued);
        claims.expires_at = Some(issued + Duration::from_secs(ttl.as_secs()));
        self.keys[0].key.authenticate(claims).map_err(SigningError)
    }

    /// Checks signature, algorithm, key id, issuer and expiry. Anything else (`alg: none`, a
    /// token signed with an unknown key, a forged header) is simply not a grant.
    pub fn verify(&self, token: &str, now: Timestamp) -> Option<AccessGrant> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let now_s = now.unix_timestamp().max(0) as u64;
        let known = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(token).cloned();
        if let Some(known) = known {
            return (now_s <= known.until_s).then_some(known.grant);
        }
        // Checked without the table's lock: a flood of junk tokens must not queue everyone
        // else's lookups behind its signature checks.
        let (grant, expires_s) = self.check(token, now_s)?;
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_owned(), Verified { grant: grant.clone(), until_s: expires_s + TOLERANCE_S });
        Some(grant)
    }

    /// The whole check of a token not seen before: the grant, and when the token expires.
    fn check(&self, token: &str, now_s: u64) -> Option<(AccessGrant, u64)> {
        let metadata = Token::decode_metadata(token).ok()?;
        if metadata.algorithm() != "HS256" {
            return None;
        }
        let kid = metadata.key_id()?;
        let key = self.keys.iter().find(|k| k.kid == kid)?;
        let options = VerificationOptions {
            artificial_time: Some(Duration::from_secs(now_s)),
            time_tolerance: Some(Duration::from_secs(TOLERANCE_S)),
            allowed_issuers: Some(HashSet::from_strings(&[ISSUER])),
            required_key_id: Some(kid.to_owned()),
            max_token_length: Some(MAX_TOKEN_BYTES),
            ..Default::default()
        };
        let claims = key.key.verify_token::<AccessClaims>(token, Some(options)).ok()?;
        let expires_s = claims.expires_at?.as_secs();
        let grant = AccessGrant { user_id: claims.subject?.parse().ok()?, session_id: claims.custom.sid, roles: claims.custom.roles };
        Some((grant, expires_s))
    }
}

impl SigningKeys {
    /// The refresh token that replaces `parent` when it is spent: derived with HMAC-SHA256 under
    /// a key only this service has, not drawn at random, so that a client that lost the answer
    /// to its refresh can be given the very same successor again within the reuse interval,
    /// although only hashes are stored. Whoever lacks the key cannot tell it from random.
    pub fn child_refresh_token(&self, prefix: &str, parent: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.refresh_key).expect("HMAC takes any key length");
        mac.update(parent.as_bytes());
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

/// A new opaque secret token: a prefix naming its kind, then 256 random bits.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the platform provides randomness");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// How opaque tokens are stored: they carry 256 bits of entropy, so a plain hash suffices.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_unix_ms;

    const SECRET: &str = "a-test-secret-that-is-long-enough-0123";

    fn grant() -> AccessGrant {
        AccessGrant { user_id: Uuid::now_v7(), session_id: Uuid::now_v7(), roles: vec![Role::Member] }
    }

    #[test]
    fn an_issued_token_verifies_until_it_expires() {
        let keys = SigningKeys::new(SECRET, &[]).unwrap();
        let now = from_unix_ms(1_800_000_000_000);
        let token = keys.issue(&grant(), now, std::time::Duration::from_secs(900)).unwrap();
        assert!(keys.verify(&token, now).is_some());
        assert!(keys.verify(&token, from_unix_ms(1_800_000_000_000 + 890_000)).is_some());
        assert!(keys.verify(&token, from_unix_ms(1_800_000_000_000 + 910_000)).is_none());
    }

    #[test]
    fn tokens_from_a_rotated_out_key_verify_while_it_is_listed() {
        let old = SigningKeys::new(SECRET, &[]).unwrap();
        let now = from_unix_ms(1_800_000_000_000);
        let token = old.issue(&grant(), now, std::time::Duration::from_secs(900)).unwrap();
        let rotated = SigningKeys::new("another-secret-that-is-long-enough-456", &[SECRET]).unwrap();
        assert!(rotated.verify(&token, now).is_some());
        let forgotten = SigningKeys::new("another-secret-that-is-long-enough-456", &[]).unwrap();
        assert!(forgotten.verify(&token, now).is_none());
    }

    #[test]
    fn unsigned_and_tampered_tokens_are_rejected() {
        let keys = SigningKeys::new(SECRET, &[]).unwrap();
        let now = from_unix_ms(1_800_000_000_000);
        let token = keys.issue(&grant(), now, std::time::Duration::from_secs(900)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, keys.active_kid()));
        assert!(keys.verify(&format!("{none_header}.{}.", parts[1]), now).is_none());
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.verify(&tampered, now).is_none());
        assert!(keys.verify("not.a.token", now).is_none());
    }

    #[test]
    fn a_refresh_tokens_successor_is_fixed_by_the_secret_and_unlike_its_parent() {
        let keys = SigningKeys::new(SECRET, &[]).unwrap();
        let child = keys.child_refresh_token("tui_rt_", "tui_rt_parent");
        assert_eq!(child, keys.child_refresh_token("tui_rt_", "tui_rt_parent"));
        assert_ne!(child, keys.child_refresh_token("tui_rt_", "tui_rt_other"));
        let other = SigningKeys::new("another-secret-that-is-long-enough-456", &[]).unwrap();
        assert_ne!(child, other.child_refresh_token("tui_rt_", "tui_rt_parent"));
        assert!(child.starts_with("tui_rt_") && child.len() > 40);
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(SigningKeys::new("short", &[]).err(), Some(ShortSecret));
        assert_eq!(SigningKeys::new(SECRET, &["short"]).err(), Some(ShortSecret), "old secrets too");
    }
}
