//! Platforms (`os/architecture[/variant]`) and how they map to Lambda architectures.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An image's platform, as an index entry or a config blob gives it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
pub struct Platform {
    /// `linux`, say.
    pub os: String,
    /// The OCI architecture name: `amd64`, `arm64`.
    pub architecture: String,
    /// The micro-architecture (`v8`), if given.
    #[serde(default)]
    pub variant: Option<String>,
}

/// The two architectures Lambda runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum LambdaArch {
    /// `linux/amd64`.
    #[serde(rename = "x86_64")]
    X86_64,
    /// `linux/arm64`.
    #[serde(rename = "arm64")]
    Arm64,
}

impl LambdaArch {
    /// Lambda's name for it (`x86_64`, `arm64`), as in a function's `Architectures`.
    pub fn lambda_name(self) -> &'static str {
        match self {
            LambdaArch::X86_64 => "x86_64",
            LambdaArch::Arm64 => "arm64",
        }
    }

    /// The OCI architecture name (`amd64`, `arm64`), as in `<tag>-<arch>` tags.
    pub fn oci_name(self) -> &'static str {
        match self {
            LambdaArch::X86_64 => "amd64",
            LambdaArch::Arm64 => "arm64",
        }
    }

    /// The architecture Lambda calls `name` (`x86_64`, `arm64`), if it is one.
    pub fn from_lambda_name(name: &str) -> Option<LambdaArch> {
        match name {
            "x86_64" => Some(LambdaArch::X86_64),
            "arm64" => Some(LambdaArch::Arm64),
            _ => None,
        }
    }
}

impl Platform {
    /// `unknown/unknown`, the platform BuildKit gives attestation manifests.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    /// The Lambda architecture this platform runs on, if any: linux/amd64 (any
    /// micro-architecture level is a superset of v1, so only plain or v1 counts) or
    /// linux/arm64 (plain or v8).
    pub fn lambda_arch(&self) -> Option<LambdaArch> {
        if self.os != "linux" {
            return None;
        }
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("amd64", None | Some("v1")) => Some(LambdaArch::X86_64),
            ("arm64", None | Some("v8")) => Some(LambdaArch::Arm64),
            _ => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// Serialised as its text (`linux/arm64/v8`), so its schema is a string.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Platform {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Platform".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "OS/ARCHITECTURE[/VARIANT], e.g. linux/amd64, linux/arm64/v8"
        })
    }
}

/// A `--platform` value: one of the platforms Lambda can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformArg(pub LambdaArch);

/// Why a `--platform` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// Not `OS/ARCH[/VARIANT]`.
    #[error("platform {0:?} is not of the form OS/ARCH[/VARIANT] (for example linux/arm64)")]
    Malformed(String),
    /// Well formed, but not linux/amd64 or linux/arm64.
    #[error(
        "platform {0:?} cannot run on Lambda: use linux/amd64 (x86_64 functions) or linux/arm64 (arm64 functions)"
    )]
    NotLambda(String),
}

impl FromStr for PlatformArg {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let well_formed = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if !well_formed {
            return Err(PlatformError::Malformed(s.to_owned()));
        }
        let platform = Platform {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        };
        platform
            .lambda_arch()
            .map(PlatformArg)
            .ok_or_else(|| PlatformError::NotLambda(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn lambda_architectures() {
        assert_eq!(
            p("linux", "amd64", None).lambda_arch(),
            Some(LambdaArch::X86_64)
        );
        assert_eq!(
            p("linux", "arm64", None).lambda_arch(),
            Some(LambdaArch::Arm64)
        );
        assert_eq!(
            p("linux", "arm64", Some("v8")).lambda_arch(),
            Some(LambdaArch::Arm64)
        );
        assert_eq!(p("linux", "arm", Some("v7")).lambda_arch(), None);
        assert_eq!(p("linux", "amd64", Some("v3")).lambda_arch(), None);
        assert_eq!(p("windows", "amd64", None).lambda_arch(), None);
        assert_eq!(p("unknown", "unknown", None).lambda_arch(), None);
    }

    #[test]
    fn platform_flag_accepts_only_lambda_platforms() {
        assert_eq!("linux/amd64".parse(), Ok(PlatformArg(LambdaArch::X86_64)));
        assert_eq!("linux/arm64/v8".parse(), Ok(PlatformArg(LambdaArch::Arm64)));
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "Linux/AMD64",
            "linux/amd64/v8/x",
            "linux amd64",
        ] {
            assert!(
                matches!(bad.parse::<PlatformArg>(), Err(PlatformError::Malformed(_))),
                "{bad}"
            );
        }
        for other in [
            "windows/amd64",
            "linux/arm/v7",
            "linux/s390x",
            "darwin/arm64",
        ] {
            assert!(
                matches!(
                    other.parse::<PlatformArg>(),
                    Err(PlatformError::NotLambda(_))
                ),
                "{other}"
            );
        }
    }
}
