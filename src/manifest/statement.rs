//! In-toto statements as BuildKit writes them (Statement v0.1 and v1, with SLSA
//! provenance v0.2 and v1 predicates), read into a typed view; and the provenance
//! requirements of `check`, `fix` and `deploy`, judged against that view. Pure: the
//! bytes come from [`crate::ecr::blob::read_verified`].
//!
//! What BuildKit puts where (moby/buildkit `docs/attestations/slsa-definitions.md`):
//! - SLSA v0.2: `builder.id`; `invocation.configSource.{uri,digest}`;
//!   `invocation.parameters.frontend`; `metadata.buildStartedOn/buildFinishedOn`;
//!   `metadata["https://mobyproject.org/buildkit@v1#metadata"].vcs.{source,revision}`;
//!   `materials[]`.
//! - SLSA v1: `runDetails.builder.id`; `buildDefinition.externalParameters.configSource`;
//!   `buildDefinition.externalParameters.request.frontend`;
//!   `runDetails.metadata.{startedOn,finishedOn}`;
//!   `runDetails.metadata.buildkit_metadata.vcs`; `buildDefinition.resolvedDependencies[]`.
//!
//! The `vcs` values are what the build client (buildx, from the git checkout of the
//! context) said; BuildKit does not check them. Nothing here is signed.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::digest::Digest;
use crate::manifest::findings::{Code, Finding};

/// The most ecr-lambda reads of one in-toto statement. BuildKit's `mode=max`
/// statements carry the build definition and the Dockerfile: tens to hundreds of KiB.
pub const MAX_STATEMENT_BYTES: u64 = 8 * 1024 * 1024;

/// At most this many referrers of an image are considered (ListImageReferrers is read
/// no further): anyone who can push can add referrers without end.
pub const MAX_REFERRERS: usize = 32;

/// At most this many statements are fetched at once.
pub const STATEMENTS_AT_ONCE: usize = 4;

/// At most this many bytes of statements are read for one image, by their
/// descriptors' sizes, in the order the attestations were found.
pub const MAX_STATEMENTS_TOTAL: u64 = 32 * 1024 * 1024;

/// Which statements fit in [`MAX_STATEMENTS_TOTAL`]: `sizes` are their descriptors'
/// sizes in the order found (`None`: nothing to read); a statement above
/// [`MAX_STATEMENT_BYTES`] is refused on its own and counts nothing. `true` for each
/// one read; once one does not fit, none after it is read either, so what is left
/// unread is a tail the warning can name.
pub fn within_budget(sizes: &[Option<u64>]) -> Vec<bool> {
    let mut total = 0u64;
    let mut full = false;
    sizes
        .iter()
        .map(|size| match size {
            None => true,
            Some(size) if *size > MAX_STATEMENT_BYTES => true,
            Some(size) => {
                full = full || total + size > MAX_STATEMENTS_TOTAL;
                if !full {
                    total += size;
                }
                !full
            }
        })
        .collect()
}

/// SLSA provenance v0.2, as a predicate type.
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1, as a predicate type.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// in-toto Statement v0.1, as `_type`.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// in-toto Statement v1, as `_type`.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// Where SLSA v0.2 keeps BuildKit's own metadata (`vcs`, `source`, `layers`).
pub const BUILDKIT_METADATA_V02: &str = "https://mobyproject.org/buildkit@v1#metadata";

/// Whether an in-toto layer's predicate type is a provenance this module reads.
pub fn is_provenance(predicate_type: &str) -> bool {
    predicate_type == SLSA_V02 || predicate_type == SLSA_V1
}

/// A material (v0.2) or resolved dependency (v1): a base image, a git source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Material {
    /// `pkg:docker/alpine@3.20?platform=linux%2Famd64`, a git URL, ...
    pub uri: String,
    /// `sha256:<hex>` (or `sha1:<hex>` for git); `null` when none is given.
    pub digest: Option<String>,
}

/// What a provenance statement says, as reported (`provenance[].statement`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Statement {
    /// `https://slsa.dev/provenance/v0.2` or `https://slsa.dev/provenance/v1`.
    pub predicate_type: String,
    /// One of the statement's subjects is the target image: only then does it count.
    pub subject_matches: bool,
    /// The subjects' digests, `sha256:<hex>`.
    pub subjects: Vec<String>,
    /// `builder.id` (v0.2) or `runDetails.builder.id` (v1); `null` when empty.
    pub builder_id: Option<String>,
    /// BuildKit's `vcs.source`, else `configSource.uri` (a git context).
    pub source: Option<String>,
    /// BuildKit's `vcs.revision`, else `configSource.digest`.
    pub revision: Option<String>,
    /// When the build started (RFC 3339, as written).
    pub started_on: Option<String>,
    /// When the build finished (RFC 3339, as written).
    pub finished_on: Option<String>,
    /// `dockerfile.v0`, or `gateway.v0` with the frontend image in `args.source`.
    pub frontend: Option<String>,
    /// Base images and other inputs, with their digests.
    pub materials: Vec<Material>,
}

impl fmt::Display for Statement {
    /// `built from <source>@<revision12> by <builder> at <time>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "built from {}@{} by {} at {}",
            self.source.as_deref().unwrap_or("an unrecorded source"),
            self.revision
                .as_deref()
                .map_or("-", |r| r.get(..12).unwrap_or(r)),
            self.builder_id.as_deref().unwrap_or("an unnamed builder"),
            self.finished_on
                .as_deref()
                .or(self.started_on.as_deref())
                .unwrap_or("an unrecorded time"),
        )
    }
}

/// Why a statement could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not JSON, or not an object.
    #[error("the statement is not a JSON object ({0})")]
    NotJson(String),
    /// `_type` is not an in-toto Statement this module knows.
    #[error("not an in-toto statement (_type {0:?})")]
    NotAStatement(String),
    /// A predicate type other than SLSA provenance v0.2 or v1.
    #[error("predicate type {0:?} is not SLSA provenance v0.2 or v1")]
    UnknownPredicate(String),
    /// The statement names no subject digest.
    #[error("the statement names no subject")]
    NoSubject,
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut at = v;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `{"sha1": "..."}` → `sha1:...`, sha256 preferred.
fn digest_set(v: Option<&Value>) -> Option<String> {
    let set = v?.as_object()?;
    let pick = |alg: &str| {
        set.get(alg)
            .and_then(Value::as_str)
            .map(|hex| format!("{alg}:{hex}"))
    };
    pick("sha256").or_else(|| pick("sha1")).or_else(|| {
        set.iter()
            .find_map(|(alg, v)| v.as_str().map(|hex| format!("{alg}:{hex}")))
    })
}

/// The bare hex of a git digest set (`configSource.digest`): what a revision is.
/// BuildKit's `vcs.source`, else the config source's `uri`.
fn source(vcs: Option<&Value>, config: Option<&Value>) -> Option<String> {
    vcs.and_then(|v| text(v, &["source"]))
        .or_else(|| config.and_then(|c| text(c, &["uri"])))
}

/// BuildKit's `vcs.revision`, else the config source's git digest.
fn revision(vcs: Option<&Value>, config: Option<&Value>) -> Option<String> {
    vcs.and_then(|v| text(v, &["revision"]))
        .or_else(|| git_revision(config.and_then(|c| c.get("digest"))))
}

fn git_revision(v: Option<&Value>) -> Option<String> {
    let set = v?.as_object()?;
    ["sha1", "sha256"]
        .iter()
        .find_map(|alg| set.get(*alg).and_then(Value::as_str).map(str::to_owned))
}

fn materials(v: Option<&Value>) -> Vec<Material> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some(Material {
                uri: text(m, &["uri"])?,
                digest: digest_set(m.get("digest")),
            })
        })
        .collect()
}

/// Reads a statement (the bytes of an in-toto layer, checked against their digest)
/// about `target`, the image manifest Lambda would run.
pub fn parse(bytes: &[u8], target: &Digest) -> Result<Statement, StatementError> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| StatementError::NotJson(e.to_string()))?;
    if !doc.is_object() {
        return Err(StatementError::NotJson("not an object".into()));
    }
    let kind = text(&doc, &["_type"]).unwrap_or_default();
    if kind != STATEMENT_V01 && kind != STATEMENT_V1 {
        return Err(StatementError::NotAStatement(kind));
    }
    let predicate_type = text(&doc, &["predicateType"]).unwrap_or_default();
    let subjects: Vec<String> = doc
        .get("subject")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("digest")?.get("sha256")?.as_str())
        .map(|hex| format!("sha256:{hex}"))
        .collect();
    if subjects.is_empty() {
        return Err(StatementError::NoSubject);
    }
    let subject_matches = subjects.iter().any(|s| s == target.as_str());
    let p = doc.get("predicate").cloned().unwrap_or(Value::Null);
    let mut statement = match predicate_type.as_str() {
        SLSA_V02 => {
            let vcs = p
                .get("metadata")
                .and_then(|m| m.get(BUILDKIT_METADATA_V02))
                .and_then(|m| m.get("vcs"));
            let config = p.get("invocation").and_then(|i| i.get("configSource"));
            Statement {
                predicate_type: predicate_type.clone(),
                subject_matches,
                subjects: Vec::new(),
                builder_id: text(&p, &["builder", "id"]),
                source: source(vcs, config),
                revision: revision(vcs, config),
                started_on: text(&p, &["metadata", "buildStartedOn"]),
                finished_on: text(&p, &["metadata", "buildFinishedOn"]),
                frontend: text(&p, &["invocation", "parameters", "frontend"]),
                materials: materials(p.get("materials")),
            }
        }
        SLSA_V1 => {
            let run = p.get("runDetails").cloned().unwrap_or(Value::Null);
            let definition = p.get("buildDefinition").cloned().unwrap_or(Value::Null);
            let vcs = run
                .get("metadata")
                .and_then(|m| m.get("buildkit_metadata"))
                .and_then(|m| m.get("vcs"));
            let config = definition
                .get("externalParameters")
                .and_then(|e| e.get("configSource"));
            Statement {
                predicate_type: predicate_type.clone(),
                subject_matches,
                subjects: Vec::new(),
                builder_id: text(&run, &["builder", "id"]),
                source: source(vcs, config),
                revision: revision(vcs, config),
                started_on: text(&run, &["metadata", "startedOn"]),
                finished_on: text(&run, &["metadata", "finishedOn"]),
                frontend: text(&definition, &["externalParameters", "request", "frontend"]),
                materials: materials(definition.get("resolvedDependencies")),
            }
        }
        _ => return Err(StatementError::UnknownPredicate(predicate_type)),
    };
    statement.subjects = subjects;
    Ok(statement)
}

/// Lambda's limit on an alias's description.
pub const MAX_ALIAS_DESCRIPTION: usize = 256;

/// A source as the alias description gives it: no scheme, no user, no `.git`
/// (`github.com/org/repo`).
fn short_source(source: &str) -> String {
    let s = source.split('#').next().unwrap_or(source);
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let s = s.rsplit_once('@').map_or(s, |(_, host)| host);
    let s = s.trim_end_matches('/');
    let s = s.strip_suffix(".git").unwrap_or(s);
    // git@github.com:org/repo (scp-like) → github.com/org/repo
    s.replacen(':', "/", usize::from(!source.contains("://")))
}

/// What an alias's description records of a deploy, within Lambda's 256 characters:
/// `sha256:<12> from github.com/org/repo@<rev12> (ecr-lambda)`; without a statement,
/// `sha256:<12> (ecr-lambda)`.
pub fn alias_description(target: &Digest, statement: Option<&Statement>) -> String {
    let digest = target.as_str().get(..19).unwrap_or(target.as_str());
    let from = statement
        .and_then(|s| {
            let source = short_source(s.source.as_deref()?);
            let revision = s.revision.as_deref().map(|r| r.get(..12).unwrap_or(r));
            Some(match revision {
                Some(r) => format!(" from {source}@{r}"),
                None => format!(" from {source}"),
            })
        })
        .unwrap_or_default();
    // The source and revision are the image's words: an alias description is shown by
    // the console, the CLI and `rollback`, so its controls are escaped here, once.
    let from = crate::text::safe(&from).into_owned();
    let tail = " (ecr-lambda)";
    let room = MAX_ALIAS_DESCRIPTION - digest.len() - tail.len();
    let from: String = if from.chars().count() > room {
        let cut: String = from.chars().take(room.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        from
    };
    format!("{digest}{from}{tail}")
}

/// Whether the builder id `found` is `expected` or lies under it: a prefix counts
/// only where it ends at `/` or `@` (its own last character, or the next one of
/// `found`). `https://github.com/org/app` would otherwise admit
/// `https://github.com/org/app-evil/...`, a repository anyone may name.
pub fn builder_matches(expected: &str, found: &str) -> bool {
    let Some(rest) = found.strip_prefix(expected) else {
        return false;
    };
    rest.is_empty() || expected.ends_with(['/', '@']) || rest.starts_with(['/', '@'])
}

/// A revision as `--provenance-revision` takes it: a full git SHA (40 or 64 hex
/// digits) or a prefix of at least 12, lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision(String);

impl Revision {
    /// The hex digits, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `found` (a statement's revision) is this commit: all hex, and starts
    /// with it. A revision buildx marked `-dirty` never matches.
    pub fn matches(&self, found: &str) -> bool {
        let found = found.to_ascii_lowercase();
        found.len() >= self.0.len()
            && found.bytes().all(|b| b.is_ascii_hexdigit())
            && found.starts_with(&self.0)
    }
}

impl std::str::FromStr for Revision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if (12..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Revision(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{s:?} is not a git commit: give the full SHA (40 hex digits) or at least its \
                 first 12"
            ))
        }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A source URL compared as `--provenance-source` says: without a trailing `.git`
/// (or `/`), without a `#ref` fragment, the host in any case.
pub fn same_source(expected: &str, found: &str) -> bool {
    normalise_source(expected) == normalise_source(found)
}

fn normalise_source(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url).trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            // user@host: only the host's case is ignored.
            let (user, host) = match authority.rsplit_once('@') {
                Some((user, host)) => (format!("{user}@"), host),
                None => (String::new(), authority),
            };
            format!(
                "{}://{user}{}{path}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_owned(),
    }
}

/// What `--require-provenance`, `--provenance-*` and `--require-signed` ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenanceRequirements {
    /// A readable statement whose subject is the target must exist (any of the three
    /// below implies it).
    pub require_provenance: bool,
    /// `--provenance-source`: the statement's source is this URL.
    pub source: Option<String>,
    /// `--provenance-revision`: the statement's revision is this commit.
    pub revision: Option<Revision>,
    /// `--provenance-builder`: the builder id is this, or starts with it at a
    /// boundary (see [`builder_matches`]).
    pub builder: Option<String>,
    /// `--require-signed`: ECR managed signing says COMPLETE for every signing
    /// profile of the target.
    pub require_signed: bool,
    /// How long an IN_PROGRESS signing is waited for (`--wait-timeout`).
    pub signing_timeout: std::time::Duration,
}

impl Default for ProvenanceRequirements {
    fn default() -> Self {
        ProvenanceRequirements {
            require_provenance: false,
            source: None,
            revision: None,
            builder: None,
            require_signed: false,
            signing_timeout: std::time::Duration::from_secs(300),
        }
    }
}

impl ProvenanceRequirements {
    /// Nothing asked.
    pub fn none() -> Self {
        Self::default()
    }

    /// A statement must be found (and match).
    pub fn wants_statement(&self) -> bool {
        self.require_provenance
            || self.source.is_some()
            || self.revision.is_some()
            || self.builder.is_some()
    }

    /// Anything asked at all.
    pub fn any(&self) -> bool {
        self.wants_statement() || self.require_signed
    }

    /// Each field asked for, judged against one statement.
    pub fn fields(&self, statement: &Statement) -> Vec<FieldCheck> {
        let mut checks = Vec::new();
        if let Some(source) = &self.source {
            checks.push(FieldCheck {
                field: Field::Source,
                expected: source.clone(),
                found: statement.source.clone(),
                ok: statement
                    .source
                    .as_deref()
                    .is_some_and(|f| same_source(source, f)),
            });
        }
        if let Some(revision) = &self.revision {
            checks.push(FieldCheck {
                field: Field::Revision,
                expected: revision.to_string(),
                found: statement.revision.clone(),
                ok: statement
                    .revision
                    .as_deref()
                    .is_some_and(|f| revision.matches(f)),
            });
        }
        if let Some(builder) = &self.builder {
            checks.push(FieldCheck {
                field: Field::Builder,
                expected: builder.clone(),
                found: statement.builder_id.clone(),
                ok: statement
                    .builder_id
                    .as_deref()
                    .is_some_and(|f| builder_matches(builder, f)),
            });
        }
        checks
    }
}

/// A field of a statement that a requirement names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    /// `--provenance-source`.
    Source,
    /// `--provenance-revision`.
    Revision,
    /// `--provenance-builder`.
    Builder,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Source => "source",
            Field::Revision => "revision",
            Field::Builder => "builder",
        })
    }
}

/// One requirement against what a statement says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FieldCheck {
    /// Which field.
    pub field: Field,
    /// What was asked.
    pub expected: String,
    /// What the statement says; `null` when it says nothing.
    pub found: Option<String>,
    /// They agree.
    pub ok: bool,
}

/// A statement as read for the judgement: read (whatever its subject), or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// Read and parsed.
    Statement(Statement),
    /// Could not be had, or is not a statement: why.
    Unreadable(String),
}

/// The judgement: what the requirements ask of the statements read, as problems
/// (none: they are met), and the field checks of the statement judged (the first
/// that meets them all, else the first whose subject is the target).
pub fn judge(
    requirements: &ProvenanceRequirements,
    image: &str,
    target: &Digest,
    read: &[Read],
) -> (Vec<Finding>, Vec<FieldCheck>) {
    if !requirements.wants_statement() {
        return (Vec::new(), Vec::new());
    }
    let counted: Vec<&Statement> = read
        .iter()
        .filter_map(|r| match r {
            Read::Statement(s) if s.subject_matches => Some(s),
            _ => None,
        })
        .collect();
    if counted.is_empty() {
        let unreadable: Vec<&str> = read
            .iter()
            .filter_map(|r| match r {
                Read::Unreadable(why) => Some(why.as_str()),
                Read::Statement(_) => None,
            })
            .collect();
        let others = read
            .iter()
            .filter(|r| matches!(r, Read::Statement(s) if !s.subject_matches))
            .count();
        let finding = if !unreadable.is_empty() {
            Finding::new(
                Code::ProvenanceUnreadable,
                format!(
                    "the provenance of {image} ({target}) could not be read: {}; nothing will \
                     be written",
                    unreadable.join("; ")
                ),
            )
        } else {
            let about_others = if others > 0 {
                format!(
                    " ({others} statement(s) found name another image as their subject, and do \
                     not count)"
                )
            } else {
                String::new()
            };
            Finding::new(
                Code::ProvenanceMissing,
                format!(
                    "no provenance attestation of {image} ({target}) was found{about_others}: \
                     build it with buildx's provenance attestation (the default; \
                     --provenance=mode=max), and keep it (ecr-lambda fix keeps it as a \
                     referrer); nothing will be written"
                ),
            )
        };
        return (vec![finding], Vec::new());
    }
    if let Some(passing) = counted
        .iter()
        .map(|s| requirements.fields(s))
        .find(|checks| checks.iter().all(|c| c.ok))
    {
        return (Vec::new(), passing);
    }
    let checks = requirements.fields(counted[0]);
    let wrong: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| {
            format!(
                "{}: expected {}, found {}",
                c.field,
                c.expected,
                c.found.as_deref().unwrap_or("nothing")
            )
        })
        .collect();
    (
        vec![Finding::new(
            Code::ProvenanceMismatch,
            format!(
                "the provenance of {image} ({target}) is not what was required: {}; nothing \
                 will be written",
                wrong.join("; ")
            ),
        )],
        checks,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_compare_without_git_suffix_fragment_or_host_case() {
        assert!(same_source(
            "https://github.com/Org/Repo",
            "https://GitHub.com/Org/Repo.git"
        ));
        assert!(same_source(
            "https://github.com/org/repo.git#refs/heads/main",
            "https://github.com/org/repo"
        ));
        // The path keeps its case: GitHub's are case-insensitive, others are not.
        assert!(!same_source(
            "https://github.com/org/repo",
            "https://github.com/org/other"
        ));
        assert!(!same_source(
            "https://github.com/org/repo",
            "git@github.com:org/repo.git"
        ));
    }

    #[test]
    fn alias_descriptions_fit_lambdas_limit() {
        let target: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let mut s = Statement {
            predicate_type: SLSA_V1.into(),
            subject_matches: true,
            subjects: vec![target.to_string()],
            builder_id: None,
            source: Some("https://github.com/org/repo.git".into()),
            revision: Some("a9ba846486420e07d30db1107411ac3697ecab68".into()),
            started_on: None,
            finished_on: None,
            frontend: None,
            materials: vec![],
        };
        assert_eq!(
            alias_description(&target, Some(&s)),
            "sha256:abababababab from github.com/org/repo@a9ba84648642 (ecr-lambda)"
        );
        s.source = Some("git@github.com:org/repo.git".into());
        assert!(alias_description(&target, Some(&s)).contains("from github.com/org/repo@"));
        assert_eq!(
            alias_description(&target, None),
            "sha256:abababababab (ecr-lambda)"
        );
        s.source = Some(format!("https://example.com/{}", "x".repeat(400)));
        let long = alias_description(&target, Some(&s));
        assert_eq!(long.chars().count(), MAX_ALIAS_DESCRIPTION);
        assert!(long.ends_with("… (ecr-lambda)"), "{long}");
        s.source = Some("https://github.com/org/app\u{1b}]0;x\u{7}\u{1b}[2J\nfake".into());
        let escaped = alias_description(&target, Some(&s));
        assert!(!escaped.chars().any(crate::text::needs_escape), "{escaped}");
        assert!(
            escaped.contains("\\u{1b}]0;x\\u{7}\\u{1b}[2J\\u{a}fake"),
            "{escaped}"
        );
    }

    #[test]
    fn statements_are_read_within_32_mib_and_the_rest_is_a_tail() {
        let mib = 1024 * 1024;
        assert_eq!(
            within_budget(&[
                Some(8 * mib),
                None,
                Some(9 * mib),
                Some(8 * mib),
                Some(8 * mib)
            ]),
            [true, true, true, true, true],
            "32 MiB exactly fits; an oversize one is refused on its own"
        );
        assert_eq!(
            within_budget(&[Some(8 * mib); 5]),
            [true, true, true, true, false]
        );
        assert_eq!(
            within_budget(&[
                Some(8 * mib),
                Some(8 * mib),
                Some(8 * mib),
                Some(8 * mib - 1),
                Some(2),
                Some(1)
            ]),
            [true, true, true, true, false, false],
            "nothing after the first that does not fit"
        );
    }

    #[test]
    fn a_builder_prefix_matches_only_at_a_boundary() {
        let runs = "https://github.com/org/app/actions/runs/7";
        for expected in [
            "https://github.com/org/app",
            "https://github.com/org/app/",
            "https://github.com/org/app/actions/runs/",
            runs,
        ] {
            assert!(builder_matches(expected, runs), "{expected}");
        }
        assert!(builder_matches(
            "https://github.com/org/app/.github/workflows/release.yml",
            "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main"
        ));
        for expected in [
            "https://github.com/org/ap",
            "https://github.com/org/app/actions/runs/7",
            "https://github.com/org/app/actions/ru",
        ] {
            assert!(
                !builder_matches(expected, "https://github.com/org/app-evil/actions/runs/77"),
                "{expected}"
            );
        }
        assert!(!builder_matches(
            "https://github.com/org/app",
            "https://github.com/org/application"
        ));
        assert!(!builder_matches(
            "https://github.com/org/app/actions/runs/7",
            "https://github.com/org/app/actions/runs/77"
        ));
    }

    #[test]
    fn revisions_are_full_or_twelve_hex_prefixes() {
        let full: Revision = "A9BA846486420E07D30DB1107411AC3697ECAB68".parse().unwrap();
        assert!(full.matches("a9ba846486420e07d30db1107411ac3697ecab68"));
        assert!(!full.matches("a9ba846486420e07d30db1107411ac3697ecab68-dirty"));
        let short: Revision = "a9ba84648642".parse().unwrap();
        assert!(short.matches("a9ba846486420e07d30db1107411ac3697ecab68"));
        assert!(!short.matches("a9ba8464864"));
        assert!("a9ba8464864".parse::<Revision>().is_err());
        assert!("not-a-sha-at-all".parse::<Revision>().is_err());
    }
}
