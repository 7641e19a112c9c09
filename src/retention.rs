//! Keeping the way back, judged: what an image Lambda runs is exposed to, the
//! protective tag of a version, the keep rule and a policy rewritten with it, and
//! which versions `prune` may delete. Pure: no I/O, no SDK; the facts come from
//! `lambda::pins` and `ecr::retention`, and ECR's own lifecycle preview is the
//! answer to "what would the policy do" (its rules are not re-implemented here).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

use crate::digest::Digest;

/// The protective tags' default prefix (`--tag-prefix`).
pub const DEFAULT_TAG_PREFIX: &str = "lambda.";

/// The longest prefix accepted: with a 64-character function name, a dot and a
/// 10-digit version the tag stays within ECR's 128 characters.
pub const MAX_PREFIX_LEN: usize = 40;

/// What `$LATEST` is called in a protective tag: a tag cannot hold `$`, and no
/// version number can be `latest`.
pub const LATEST_TAG: &str = "latest";

/// What `$LATEST.PUBLISHED` (the version a function on Lambda Managed Instances runs
/// when invoked without a qualifier) is called in a protective tag.
pub const LATEST_PUBLISHED_TAG: &str = "latest-published";

/// `$LATEST.PUBLISHED`, as Lambda names the version.
const LATEST_PUBLISHED: &str = "$LATEST.PUBLISHED";

/// ECR's storage state of an image (DescribeImages `imageStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImageState {
    /// Pullable.
    Active,
    /// In the archive storage class: Lambda cannot pull it until it is restored.
    Archived,
    /// Being restored from the archive.
    Activating,
}

/// What a lifecycle rule would do to an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RuleAction {
    /// Delete it.
    Expire,
    /// Move it to the archive.
    Transition,
}

/// How the preview reaches an image: itself, or an index that lists it (the children
/// of an index go when it goes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// The image is in the preview's results.
    Image,
    /// An index listing it is.
    Index,
}

/// A rule of the repository's lifecycle policy that would act on an image in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Risk {
    /// The rule's `rulePriority`.
    pub rule_priority: i32,
    /// What it would do.
    pub action: RuleAction,
    /// Whether it reaches the image itself or an index that lists it.
    pub via: Via,
}

/// One result of a lifecycle policy preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviewHit {
    /// The rule that would act.
    pub rule_priority: i32,
    /// What it would do.
    pub action: RuleAction,
}

/// The verdict on an image in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// There, pullable, and no rule of the policy would act on it now.
    Safe,
    /// There, and a rule would expire or archive it (or an index listing it).
    AtRisk,
    /// Archived: a version that runs it fails until it is restored.
    Archived,
    /// Being restored.
    Activating,
    /// Not in the repository any more.
    Deleted,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Safe => "safe",
            Status::AtRisk => "at-risk",
            Status::Archived => "archived",
            Status::Activating => "activating",
            Status::Deleted => "deleted",
        })
    }
}

/// What the preview says of `digest`: the rule that acts on it, or on an index that
/// lists it (`parents`: the indexes of the repository known to list it).
pub fn risk_of(
    digest: &Digest,
    hits: &BTreeMap<Digest, PreviewHit>,
    parents: &BTreeMap<Digest, BTreeSet<Digest>>,
) -> Option<Risk> {
    if let Some(hit) = hits.get(digest) {
        return Some(Risk {
            rule_priority: hit.rule_priority,
            action: hit.action,
            via: Via::Image,
        });
    }
    parents
        .get(digest)?
        .iter()
        .filter_map(|p| hits.get(p))
        .min_by_key(|h| h.rule_priority)
        .map(|hit| Risk {
            rule_priority: hit.rule_priority,
            action: hit.action,
            via: Via::Index,
        })
}

/// The verdict on an image from what DescribeImages said (`None`: not there) and
/// what the preview says.
pub fn judge(state: Option<ImageState>, risk: Option<&Risk>) -> Status {
    match (state, risk) {
        (None, _) => Status::Deleted,
        (Some(ImageState::Archived), _) => Status::Archived,
        (Some(ImageState::Activating), _) => Status::Activating,
        (Some(ImageState::Active), Some(_)) => Status::AtRisk,
        (Some(ImageState::Active), None) => Status::Safe,
    }
}

/// Why a `--tag-prefix` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--tag-prefix {0:?} cannot start a tag: use 1-{MAX_PREFIX_LEN} letters, digits, '.', '_' or \
     '-', starting with a letter, a digit or '_'"
)]
pub struct PrefixError(pub String);

/// Checks a tag prefix: every tag made with it is a valid ECR tag.
pub fn validate_prefix(prefix: &str) -> Result<(), PrefixError> {
    let mut bytes = prefix.bytes();
    let first = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rest = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if first && rest && prefix.len() <= MAX_PREFIX_LEN {
        Ok(())
    } else {
        Err(PrefixError(prefix.to_owned()))
    }
}

/// The protective tag of a function's version (`None`: `$LATEST`):
/// `PREFIX<function>.<version>`, `PREFIX<function>.latest`. Lambda's function names
/// (letters, digits, '-', '_', at most 64) are all valid in an ECR tag as they are,
/// so nothing needs escaping.
pub fn protective_tag(prefix: &str, function: &str, version: Option<&str>) -> String {
    let version = match version {
        None => LATEST_TAG,
        Some(LATEST_PUBLISHED) => LATEST_PUBLISHED_TAG,
        Some(number) => number,
    };
    format!("{prefix}{function}.{version}")
}

/// The function and version (`None`: `$LATEST`) a protective tag names, if it is one.
pub fn parse_protective_tag<'a>(prefix: &str, tag: &'a str) -> Option<(&'a str, Option<&'a str>)> {
    let rest = tag.strip_prefix(prefix)?;
    let (function, version) = rest.rsplit_once('.')?;
    match version {
        LATEST_TAG => Some((function, None)),
        LATEST_PUBLISHED_TAG => Some((function, Some(LATEST_PUBLISHED))),
        v if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Some((function, Some(v))),
        _ => None,
    }
}

/// The keep rule: a tagged rule on the prefix with a count no repository reaches,
/// so every image carrying a protective tag matches it and no lower rule acts on it.
pub fn keep_rule(prefix: &str, priority: i64) -> Value {
    json!({
        "rulePriority": priority,
        "description": format!("ecr-lambda: keep the images Lambda runs (tags {prefix}*)"),
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": [prefix],
            "countType": "imageCountMoreThan",
            "countNumber": 9999
        },
        "action": {"type": "expire"}
    })
}

/// Why a lifecycle policy cannot be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON, or not an object with a `rules` array of objects.
    #[error("the repository's lifecycle policy is not a JSON object with a rules array: {0}")]
    Malformed(String),
}

fn priority(rule: &Value) -> Option<i64> {
    rule.get("rulePriority").and_then(Value::as_i64)
}

fn is_keep_rule(rule: &Value, prefix: &str) -> bool {
    let selection = &rule["selection"];
    selection["tagStatus"] == "tagged"
        && selection["tagPrefixList"] == json!([prefix])
        && selection["countType"] == "imageCountMoreThan"
        && selection["countNumber"].as_i64().is_some_and(|n| n >= 9999)
        && rule["action"]["type"] == "expire"
}

/// The policy with the keep rule ahead of every other rule: at priority 1, every
/// other rule's priority moved up by one when 1 is taken (their order kept).
/// Everything else stays as it was, unknown fields included. `None` when the policy
/// already starts with the keep rule.
pub fn with_keep_rule(policy: &str, prefix: &str) -> Result<Option<String>, PolicyError> {
    let mut doc: Value =
        serde_json::from_str(policy).map_err(|e| PolicyError::Malformed(e.to_string()))?;
    let rules = doc
        .get_mut("rules")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| PolicyError::Malformed("no rules array".into()))?;
    if rules
        .iter()
        .any(|r| !r.is_object() || priority(r).is_none())
    {
        return Err(PolicyError::Malformed(
            "a rule without a numeric rulePriority".into(),
        ));
    }
    let lowest = rules.iter().filter_map(priority).min();
    if let Some(first) = rules.iter().find(|r| priority(r) == lowest)
        && is_keep_rule(first, prefix)
    {
        return Ok(None);
    }
    if lowest.is_some_and(|p| p <= 1) {
        for rule in rules.iter_mut() {
            let p = priority(rule).expect("checked above");
            rule["rulePriority"] = json!(p + 1);
        }
    }
    rules.insert(0, keep_rule(prefix, 1));
    Ok(Some(
        serde_json::to_string(&doc).expect("a JSON value serialises"),
    ))
}

/// Whether a lifecycle policy has a rule for untagged images (what a moved tag
/// leaves behind). A policy that does not parse has none that can be read.
pub fn has_untagged_rule(policy: &str) -> bool {
    serde_json::from_str::<Value>(policy)
        .ok()
        .and_then(|doc| doc.get("rules").and_then(Value::as_array).cloned())
        .is_some_and(|rules| {
            rules
                .iter()
                .any(|r| r["selection"]["tagStatus"] == "untagged")
        })
}

/// Why `prune` keeps a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Why {
    /// One of the `--keep` newest.
    Newest,
    /// An alias routes to it (its version, or its weighted version).
    Alias {
        /// The alias.
        alias: String,
    },
}

/// A version `prune` keeps, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Kept {
    /// The version.
    pub version: String,
    /// Why it stays.
    pub why: Why,
}

/// Which published versions stay and which go: the `keep` newest stay, and every
/// version an alias routes to (`routes`: version → aliases). `versions` in any order.
pub fn plan_prune(
    versions: &[u64],
    routes: &BTreeMap<u64, Vec<String>>,
    keep: usize,
) -> (Vec<Kept>, Vec<String>) {
    let mut sorted = versions.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    let mut kept = Vec::new();
    let mut deleted = Vec::new();
    for (i, v) in sorted.iter().enumerate() {
        let why = if i < keep {
            Some(Why::Newest)
        } else {
            routes
                .get(v)
                .and_then(|a| a.first())
                .map(|alias| Why::Alias {
                    alias: alias.clone(),
                })
        };
        match why {
            Some(why) => kept.push(Kept {
                version: v.to_string(),
                why,
            }),
            None => deleted.push(v.to_string()),
        }
    }
    (kept, deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::sha256_of(&[n])
    }

    #[test]
    fn the_preview_reaches_an_image_itself_or_through_an_index() {
        let hits = BTreeMap::from([
            (
                d(1),
                PreviewHit {
                    rule_priority: 3,
                    action: RuleAction::Expire,
                },
            ),
            (
                d(9),
                PreviewHit {
                    rule_priority: 2,
                    action: RuleAction::Transition,
                },
            ),
        ]);
        let parents = BTreeMap::from([
            (d(2), BTreeSet::from([d(9)])),
            (d(3), BTreeSet::from([d(8)])),
        ]);
        assert_eq!(
            risk_of(&d(1), &hits, &parents).map(|r| (r.rule_priority, r.via)),
            Some((3, Via::Image))
        );
        let via_index = risk_of(&d(2), &hits, &parents).unwrap();
        assert_eq!(
            (via_index.rule_priority, via_index.action, via_index.via),
            (2, RuleAction::Transition, Via::Index)
        );
        assert_eq!(risk_of(&d(3), &hits, &parents), None);
    }

    #[test]
    fn verdicts() {
        let risk = Risk {
            rule_priority: 1,
            action: RuleAction::Expire,
            via: Via::Image,
        };
        assert_eq!(judge(None, Some(&risk)), Status::Deleted);
        assert_eq!(judge(Some(ImageState::Archived), None), Status::Archived);
        assert_eq!(
            judge(Some(ImageState::Activating), None),
            Status::Activating
        );
        assert_eq!(judge(Some(ImageState::Active), Some(&risk)), Status::AtRisk);
        assert_eq!(judge(Some(ImageState::Active), None), Status::Safe);
    }

    #[test]
    fn protective_tags_are_valid_ecr_tags_and_read_back() {
        let longest = "f".repeat(64);
        for (function, version) in [
            ("my-fn", Some("42")),
            ("my_fn", None),
            (&*longest, Some("4294967295")),
            (&*longest, Some("$LATEST.PUBLISHED")),
        ] {
            let prefix = "p".repeat(MAX_PREFIX_LEN);
            for prefix in [DEFAULT_TAG_PREFIX, prefix.as_str()] {
                let tag = protective_tag(prefix, function, version);
                crate::reference::validate_tag(&tag).unwrap_or_else(|_| panic!("{tag}"));
                assert_eq!(
                    parse_protective_tag(prefix, &tag),
                    Some((function, version))
                );
            }
        }
        assert_eq!(
            protective_tag("lambda.", "my-fn", None),
            "lambda.my-fn.latest"
        );
        assert_eq!(
            protective_tag("lambda.", "my-fn", Some("$LATEST.PUBLISHED")),
            "lambda.my-fn.latest-published"
        );
        assert_eq!(parse_protective_tag("lambda.", "lambda.my-fn.beta"), None);
        assert_eq!(parse_protective_tag("lambda.", "latest"), None);
        assert!(validate_prefix("lambda.").is_ok());
        for bad in ["", ".x", "a b", "a$", &"p".repeat(MAX_PREFIX_LEN + 1)] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_keep_rule_goes_first_and_the_rest_stays_as_it_was() {
        let policy = r#"{"rules":[
            {"rulePriority":1,"description":"untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"},"x-unknown":[1,2]},
            {"rulePriority":5,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}}
        ],"extra":{"kept":true}}"#;
        let written = with_keep_rule(policy, "lambda.").unwrap().unwrap();
        let doc: Value = serde_json::from_str(&written).unwrap();
        let before: Value = serde_json::from_str(policy).unwrap();
        assert_eq!(doc["rules"][0], keep_rule("lambda.", 1));
        // Every other rule as it was, its priority one up, the order kept.
        for (i, rule) in before["rules"].as_array().unwrap().iter().enumerate() {
            let mut expected = rule.clone();
            expected["rulePriority"] = json!(rule["rulePriority"].as_i64().unwrap() + 1);
            assert_eq!(doc["rules"][i + 1], expected);
        }
        assert_eq!(doc["extra"], before["extra"]);
        // Written once: a second pass has nothing to do.
        assert_eq!(with_keep_rule(&written, "lambda.").unwrap(), None);
        // Priority 1 free: the others keep their numbers.
        let free = r#"{"rules":[{"rulePriority":10,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
        let doc: Value =
            serde_json::from_str(&with_keep_rule(free, "lambda.").unwrap().unwrap()).unwrap();
        assert_eq!(doc["rules"][1]["rulePriority"], 10);
        assert_eq!(doc["rules"][0]["rulePriority"], 1);
        // Another prefix is another rule.
        assert!(with_keep_rule(&written, "keep.").unwrap().is_some());
        for bad in ["not json", "{}", r#"{"rules":[{"selection":{}}]}"#] {
            assert!(with_keep_rule(bad, "lambda.").is_err(), "{bad}");
        }
    }

    #[test]
    fn untagged_rules_are_recognised() {
        assert!(has_untagged_rule(
            r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged"}}]}"#
        ));
        assert!(!has_untagged_rule(
            r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any"}}]}"#
        ));
        assert!(!has_untagged_rule("not json"));
    }

    #[test]
    fn prune_keeps_the_newest_and_every_routed_version() {
        let routes = BTreeMap::from([(2, vec!["live".to_owned()]), (7, vec!["beta".to_owned()])]);
        let (kept, deleted) = plan_prune(&[1, 2, 3, 4, 5, 6, 7], &routes, 2);
        let kept: Vec<(&str, &Why)> = kept.iter().map(|k| (k.version.as_str(), &k.why)).collect();
        assert_eq!(
            kept,
            vec![
                ("7", &Why::Newest),
                ("6", &Why::Newest),
                (
                    "2",
                    &Why::Alias {
                        alias: "live".into()
                    }
                )
            ]
        );
        assert_eq!(deleted, vec!["5", "4", "3", "1"]);
        let (kept, deleted) = plan_prune(&[1, 2], &BTreeMap::new(), 0);
        assert!(kept.is_empty());
        assert_eq!(deleted, vec!["2", "1"]);
    }
}
