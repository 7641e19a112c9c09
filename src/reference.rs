//! The image reference grammar: `[ACCOUNT.dkr.ecr.REGION.amazonaws.com/]REPOSITORY[:TAG|@sha256:HEX]`.
//!
//! Parsing is pure and total: every string either becomes an [`ImageRef`] or a
//! [`ReferenceError`] that says what is wrong, before any AWS call is made.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Algorithm, Digest};

/// An ECR registry: one account in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// The 12-digit account ID.
    pub account: String,
    /// `us-east-1`, say.
    pub region: String,
}

impl Registry {
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com` (`.com.cn` in the China partition).
    pub fn host(&self) -> String {
        let suffix = if self.region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("{}.dkr.ecr.{}.{}", self.account, self.region, suffix)
    }
}

/// What a reference selects inside the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `:TAG`.
    Tag(String),
    /// `@sha256:HEX`.
    Digest(Digest),
}

/// A parsed image reference: which repository, in which registry, and which image in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// `None` when the reference names no registry: the caller's default registry
    /// in the configured region is meant.
    pub registry: Option<Registry>,
    /// The repository name, `team/app` say.
    pub repository: String,
    /// The tag or digest; `latest` when the reference gives neither.
    pub selector: Selector,
}

impl ImageRef {
    /// The tag, when the reference selects by tag.
    pub fn tag(&self) -> Option<&str> {
        match &self.selector {
            Selector::Tag(t) => Some(t),
            Selector::Digest(_) => None,
        }
    }
}

/// Why a string is not an ECR image reference; each says what is wrong and what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing was given.
    #[error("the image reference is empty")]
    Empty,
    /// Whitespace or control characters anywhere in it.
    #[error("image reference {0:?} contains whitespace or control characters")]
    Whitespace(String),
    /// Characters outside ASCII.
    #[error("image reference {0:?} contains non-ASCII characters")]
    NonAscii(String),
    /// A registry host that is not `ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
    #[error(
        "{0:?} is not an Amazon ECR registry (expected ACCOUNT.dkr.ecr.REGION.amazonaws.com, \
         where ACCOUNT is 12 digits)"
    )]
    NotEcr(String),
    /// A repository name ECR would refuse.
    #[error(
        "repository name {0:?} is not valid: use 2-256 lowercase letters, digits and . _ - / \
         separators, each part starting and ending with a letter or digit"
    )]
    Repository(String),
    /// A tag outside the Docker tag grammar.
    #[error(
        "tag {0:?} is not valid: use 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
    )]
    Tag(String),
    /// A digest that is not `sha256:` and 64 lowercase hex digits.
    #[error(
        "digest in {0:?} is not valid: ECR images are named by sha256:<64 lowercase hex digits>"
    )]
    Digest(String),
    /// Both `:TAG` and `@sha256:HEX`.
    #[error("image reference {0:?} has both a tag and a digest: give one of :TAG or @sha256:HEX")]
    TagAndDigest(String),
}

const MAX_TAG_LEN: usize = 128;

/// The Docker tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && tag.len() <= MAX_TAG_LEN {
        Ok(())
    } else {
        Err(ReferenceError::Tag(tag.to_owned()))
    }
}

/// ECR's repository grammar: `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`, 2-256 long.
pub fn validate_repository(name: &str) -> Result<(), ReferenceError> {
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'.' | b'_' | b'-'))
            // separators never stand next to each other
            && b.windows(2).all(|w| w[0].is_ascii_alphanumeric() || w[1].is_ascii_alphanumeric())
    };
    if (2..=256).contains(&name.len()) && name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(ReferenceError::Repository(name.to_owned()))
    }
}

fn parse_registry(host: &str) -> Result<Registry, ReferenceError> {
    let not_ecr = || ReferenceError::NotEcr(host.to_owned());
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
        .ok_or_else(not_ecr)?;
    let (account, region) = rest.split_once(".dkr.ecr.").ok_or_else(not_ecr)?;
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.contains('-');
    if account_ok && region_ok {
        Ok(Registry {
            account: account.to_owned(),
            region: region.to_owned(),
        })
    } else {
        Err(not_ecr())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if !s.is_ascii() {
            return Err(ReferenceError::NonAscii(s.to_owned()));
        }
        if s.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(ReferenceError::Whitespace(s.to_owned()));
        }

        // A first component with a dot (or a port) is a registry host, as in Docker.
        let (registry, remainder) = match s.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') => {
                (Some(parse_registry(first)?), rest)
            }
            _ => (None, s),
        };

        let (name, selector) = if let Some((name, digest)) = remainder.split_once('@') {
            if name
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
            {
                return Err(ReferenceError::TagAndDigest(s.to_owned()));
            }
            let digest: Digest = digest
                .parse()
                .map_err(|_| ReferenceError::Digest(s.to_owned()))?;
            if digest.algorithm() != Algorithm::Sha256 {
                return Err(ReferenceError::Digest(s.to_owned()));
            }
            (name, Selector::Digest(digest))
        } else {
            let last_slash = remainder.rfind('/').map_or(0, |i| i + 1);
            match remainder[last_slash..].find(':') {
                Some(colon) => {
                    let (name, tag) = remainder.split_at(last_slash + colon);
                    let tag = &tag[1..];
                    validate_tag(tag)?;
                    (name, Selector::Tag(tag.to_owned()))
                }
                None => (remainder, Selector::Tag("latest".to_owned())),
            }
        };
        validate_repository(name)?;
        Ok(ImageRef {
            registry,
            repository: name.to_owned(),
            selector,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(registry) = &self.registry {
            write!(f, "{}/", registry.host())?;
        }
        f.write_str(&self.repository)?;
        match &self.selector {
            Selector::Tag(tag) => write!(f, ":{tag}"),
            Selector::Digest(digest) => write!(f, "@{digest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn full_uri_with_tag() {
        let r: ImageRef = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v7"
            .parse()
            .unwrap();
        assert_eq!(
            r.registry,
            Some(Registry {
                account: "123456789012".into(),
                region: "eu-west-1".into()
            })
        );
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.selector, Selector::Tag("v7".into()));
    }

    #[test]
    fn bare_repository_means_latest() {
        let r: ImageRef = "app".parse().unwrap();
        assert_eq!(r.registry, None);
        assert_eq!(r.selector, Selector::Tag("latest".into()));
        assert_eq!(r.to_string(), "app:latest");
    }

    #[test]
    fn digest_reference_round_trips() {
        let text = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:{HEX}");
        let r: ImageRef = text.parse().unwrap();
        assert!(matches!(r.selector, Selector::Digest(_)));
        assert_eq!(r.to_string(), text);
    }

    #[test]
    fn china_partition_hosts_are_ecr() {
        let r: ImageRef = "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1"
            .parse()
            .unwrap();
        assert_eq!(r.registry.as_ref().unwrap().region, "cn-north-1");
        assert_eq!(
            r.to_string(),
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1"
        );
    }

    #[test]
    fn bad_references_are_rejected_with_the_reason() {
        let long_tag = format!("app:{}", "a".repeat(129));
        type Expect = fn(&ReferenceError) -> bool;
        let cases: Vec<(String, Expect)> = vec![
            ("".into(), |e| matches!(e, ReferenceError::Empty)),
            ("my app:v1".into(), |e| {
                matches!(e, ReferenceError::Whitespace(_))
            }),
            ("App:v1".into(), |e| {
                matches!(e, ReferenceError::Repository(_))
            }),
            ("äpp:v1".into(), |e| {
                matches!(e, ReferenceError::NonAscii(_))
            }),
            (long_tag, |e| matches!(e, ReferenceError::Tag(_))),
            ("app:".into(), |e| matches!(e, ReferenceError::Tag(_))),
            ("app:-x".into(), |e| matches!(e, ReferenceError::Tag(_))),
            ("app@sha256:abc".into(), |e| {
                matches!(e, ReferenceError::Digest(_))
            }),
            (format!("app@sha512:{HEX}{HEX}"), |e| {
                matches!(e, ReferenceError::Digest(_))
            }),
            (format!("app@md5:{HEX}"), |e| {
                matches!(e, ReferenceError::Digest(_))
            }),
            (format!("app:v1@sha256:{HEX}"), |e| {
                matches!(e, ReferenceError::TagAndDigest(_))
            }),
            ("docker.io/library/app:v1".into(), |e| {
                matches!(e, ReferenceError::NotEcr(_))
            }),
            ("12345.dkr.ecr.us-east-1.amazonaws.com/app".into(), |e| {
                matches!(e, ReferenceError::NotEcr(_))
            }),
            ("localhost:5000/app".into(), |e| {
                matches!(e, ReferenceError::NotEcr(_))
            }),
            ("a".into(), |e| matches!(e, ReferenceError::Repository(_))),
            ("team//app".into(), |e| {
                matches!(e, ReferenceError::Repository(_))
            }),
            ("team/app/".into(), |e| {
                matches!(e, ReferenceError::Repository(_))
            }),
            ("app--x:v1".into(), |e| {
                matches!(e, ReferenceError::Repository(_))
            }),
            ("-app:v1".into(), |e| {
                matches!(e, ReferenceError::Repository(_))
            }),
        ];
        for (input, expected) in cases {
            let err = input.parse::<ImageRef>().expect_err(&input);
            assert!(expected(&err), "{input:?} gave {err:?}");
        }
    }
}
