//! argon2id password hashes in PHC string form, and the inline [`PasswordHasher`] used where a
//! request owns its thread (Workers, Spin).

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString},
};
use async_trait::async_trait;

use crate::{ApiError, config::Argon2Params, ports::PasswordHasher};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the argon2 parameters are invalid: {0}")]
    Params(argon2::Error),
    #[error("no randomness for a salt: {0}")]
    Salt(getrandom::Error),
    #[error("argon2 failed: {0}")]
    Hash(argon2::password_hash::Error),
    /// Where hashing runs on threads of its own (natively), the thread failed.
    #[error("the hashing thread failed: {0}")]
    Thread(String),
}

impl From<PasswordError> for ApiError {
    fn from(error: PasswordError) -> Self {
        ApiError::internal(error)
    }
}

#[derive(Clone, Debug)]
pub struct Argon2id {
    params: Params,
}

impl Argon2id {
    pub fn new(params: &Argon2Params) -> Result<Self, PasswordError> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None).map_err(PasswordError::Params)?;
        Ok(Self { params })
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt).map_err(PasswordError::Salt)?;
        let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hash)?;
        self.hasher().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(PasswordError::Hash)
    }

    /// Verifies with the parameters stored in the hash, so that changing the configured cost
    /// does not lock out existing users.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|hash| self.hasher().verify_password(password.as_bytes(), &hash).is_ok())
    }
}

#[async_trait]
impl PasswordHasher for Argon2id {
    async fn hash(&self, password: String) -> Result<String, PasswordError> {
        Argon2id::hash(self, &password)
    }

    async fn verify(&self, password: String, phc: String) -> bool {
        Argon2id::verify(self, &password, &phc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2id {
        Argon2id::new(&Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let hasher = cheap();
        let hash = hasher.hash("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(hasher.verify("correct horse battery staple", &hash));
        assert!(!hasher.verify("correct horse battery stapl", &hash));
        assert!(!hasher.verify("anything", "not a phc string"));
    }

    #[test]
    fn parameters_argon2_refuses_are_refused_at_once() {
        let params = Argon2Params { memory_kib: 1, iterations: 1, parallelism: 1 };
        assert!(matches!(Argon2id::new(&params), Err(PasswordError::Params(_))));
    }

    #[test]
    fn hashes_are_salted() {
        let hasher = cheap();
        assert_ne!(hasher.hash("same password here").unwrap(), hasher.hash("same password here").unwrap());
    }
}
