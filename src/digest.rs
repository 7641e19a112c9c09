//! Content digests (`sha256:<hex>`), and the one place where bytes are checked
//! against the digest that names them.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};

/// The digest algorithms of the OCI image spec. ECR names images by sha256 only,
/// but an index may legally describe a child by sha512, and such an index must
/// still be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256: the only algorithm ECR names images by.
    Sha256,
    /// SHA-512: allowed by the OCI spec for descriptors inside an index.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as it prefixes a digest (`sha256`, `sha512`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated `algorithm:hex` digest, kept in its canonical (lowercase) text form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    text: String,
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error("digest {0:?} has no algorithm (expected sha256:<64 hex digits>)")]
    MissingAlgorithm(String),
    /// An algorithm other than sha256 or sha512.
    #[error("digest {0:?} uses an unsupported algorithm (expected sha256 or sha512)")]
    UnsupportedAlgorithm(String),
    /// The hex part has the wrong length, or is not lowercase hex.
    #[error("digest {text:?} must have {expected} lowercase hex digits after {algorithm}:")]
    BadHex {
        /// The whole string as given.
        text: String,
        /// The algorithm it named.
        algorithm: &'static str,
        /// How many hex digits that algorithm needs.
        expected: usize,
    },
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            text: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        }
    }

    /// The digest of `bytes` computed with `algorithm`.
    pub fn compute(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        match algorithm {
            Algorithm::Sha256 => Digest::sha256_of(bytes),
            Algorithm::Sha512 => Digest {
                algorithm,
                text: format!("sha512:{}", hex::encode(Sha512::digest(bytes))),
            },
        }
    }

    /// The algorithm the digest was computed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The digest as text, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The hex part, without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.name().len() + 1..]
    }

    /// Checks that `bytes` are exactly what this digest names.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), DigestMismatch> {
        let actual = Digest::compute(self.algorithm, bytes);
        if &actual == self {
            Ok(())
        } else {
            Err(DigestMismatch {
                expected: self.clone(),
                actual,
            })
        }
    }
}

/// Bytes that are not what their descriptor (digest and size) names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobMismatch {
    /// Another size than the descriptor's.
    #[error("size mismatch: the descriptor says {expected} bytes, {actual} were read")]
    Size {
        /// The descriptor's size.
        expected: u64,
        /// The bytes read.
        actual: u64,
    },
    /// Another digest than the descriptor's.
    #[error(transparent)]
    Digest(#[from] DigestMismatch),
}

/// Checks bytes against the size and digest of the descriptor that named them.
pub fn verify_blob(digest: &Digest, size: u64, bytes: &[u8]) -> Result<(), BlobMismatch> {
    if bytes.len() as u64 != size {
        return Err(BlobMismatch::Size {
            expected: size,
            actual: bytes.len() as u64,
        });
    }
    Ok(digest.verify(bytes)?)
}

/// Bytes whose digest is not the one that named them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content digest mismatch: expected {expected}, computed {actual}")]
pub struct DigestMismatch {
    /// The digest that named the bytes.
    pub expected: Digest,
    /// The digest of the bytes as they are.
    pub actual: Digest,
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm(s.to_owned()));
        };
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(DigestError::UnsupportedAlgorithm(s.to_owned())),
        };
        let well_formed = hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(DigestError::BadHex {
                text: s.to_owned(),
                algorithm: algorithm.name(),
                expected: algorithm.hex_len(),
            });
        }
        Ok(Digest {
            algorithm,
            text: s.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

// Serialised as its text (`sha256:` and 64 hex digits), so its schema is a string.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "ALGORITHM:HEX, e.g. sha256: and 64 hex digits"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input_is_the_well_known_value() {
        assert_eq!(
            Digest::sha256_of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn verify_accepts_the_right_bytes_and_names_both_digests_on_mismatch() {
        let d = Digest::sha256_of(b"{}");
        assert!(d.verify(b"{}").is_ok());
        let err = d.verify(b"{ }").unwrap_err();
        assert_eq!(err.expected, d);
        assert_eq!(err.actual, Digest::sha256_of(b"{ }"));
    }

    #[test]
    fn sha512_digests_parse_and_verify() {
        let d = Digest::compute(Algorithm::Sha512, b"abc");
        let parsed: Digest = d.as_str().parse().unwrap();
        assert_eq!(parsed.algorithm(), Algorithm::Sha512);
        assert!(parsed.verify(b"abc").is_ok());
        assert_eq!(parsed.hex().len(), 128);
    }

    #[test]
    fn malformed_digests_are_rejected() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855a",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad:?} parsed");
        }
    }
}
