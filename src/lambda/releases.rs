//! Published versions and aliases: what a release moves.

use std::collections::BTreeMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::create_alias::CreateAliasError;
use aws_sdk_lambda::operation::get_alias::GetAliasError;
use aws_sdk_lambda::operation::update_alias::UpdateAliasError;
use aws_sdk_lambda::types::AliasRoutingConfiguration;

use super::FunctionRef;
use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind};

/// An alias and the version it points at.
#[derive(Clone, Debug, PartialEq)]
pub struct Alias {
    /// The alias name.
    pub name: String,
    /// The version it points at (`FunctionVersion`).
    pub version: String,
    /// The `RevisionId` it was read at: UpdateAlias sends it, so a concurrent move fails.
    pub revision_id: Option<String>,
    /// `RoutingConfig.AdditionalVersionWeights`: the version that takes a share of the
    /// traffic besides `version`, and its share (0.0 to 1.0). Empty when the alias
    /// routes everything to `version`; a gradual release is under way when not.
    pub weights: BTreeMap<String, f64>,
    /// The alias's description.
    pub description: Option<String>,
}

impl Alias {
    /// The weighted version and its share, when a release is under way (Lambda allows
    /// one additional version).
    pub fn weighted(&self) -> Option<(&str, f64)> {
        self.weights.iter().next().map(|(v, w)| (v.as_str(), *w))
    }

    pub(crate) fn from_parts(
        name: &str,
        version: Option<&str>,
        revision_id: Option<&str>,
        routing: Option<&AliasRoutingConfiguration>,
        description: Option<&str>,
    ) -> Alias {
        Alias {
            name: name.to_owned(),
            version: version.unwrap_or_default().to_owned(),
            revision_id: revision_id.map(str::to_owned),
            weights: routing
                .and_then(|r| r.additional_version_weights())
                .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default(),
            description: description.filter(|d| !d.is_empty()).map(str::to_owned),
        }
    }
}

/// A published version and the image digest it holds (for image functions a
/// version's `CodeSha256` is the image manifest digest's hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The version as Lambda names it (`"7"`).
    pub version: String,
    /// The same as a number, to order versions by.
    pub number: u64,
    /// `CodeSha256`: for an image function, the hex of its image manifest digest.
    pub code_sha256: Option<String>,
}

impl Version {
    /// Whether this version holds the image `digest` names (its `CodeSha256` is the
    /// digest's hex).
    pub fn holds(&self, digest: &Digest) -> bool {
        self.code_sha256.as_deref() == Some(digest.hex())
    }
}

fn conflict_kind(code: Option<&str>) -> Option<AwsErrorKind> {
    matches!(
        code,
        Some("PreconditionFailedException" | "ResourceConflictException")
    )
    .then_some(AwsErrorKind::Conflict)
}

/// GetAlias; `None` when the function has no alias of that name.
pub async fn get_alias(
    client: &Client,
    function: &FunctionRef,
    name: &str,
) -> Result<Option<Alias>, AwsError> {
    match client
        .get_alias()
        .function_name(&function.id)
        .name(name)
        .send()
        .await
    {
        Ok(out) => Ok(Some(Alias::from_parts(
            name,
            out.function_version(),
            out.revision_id(),
            out.routing_config(),
            out.description(),
        ))),
        Err(err) if matches!(err.as_service_error(), Some(e) if e.is_resource_not_found_exception()) => {
            Ok(None)
        }
        Err(err) => Err(AwsError::from_sdk("GetAlias", err, |e| match e {
            GetAliasError::TooManyRequestsException(_) => Some(AwsErrorKind::Throttled),
            _ => None,
        })),
    }
}

/// Points alias `name` at `version` with all the traffic: CreateAlias when it does
/// not exist, else [`update_alias`] with no weights (any weights it had are cleared).
pub async fn point_alias(
    client: &Client,
    function: &FunctionRef,
    name: &str,
    version: &str,
    existing: Option<&Alias>,
    description: Option<&str>,
) -> Result<Alias, AwsError> {
    match existing {
        None => create_alias(client, function, name, version, description).await,
        Some(alias) => {
            update_alias_described(client, function, alias, version, None, description).await
        }
    }
}

/// CreateAlias. Refused because the alias exists: when an earlier attempt of this
/// very request went through and only its answer was lost, the SDK's retry meets our
/// own alias, which is then exactly what was sent; anything else is someone else's
/// alias, not overwritten.
async fn create_alias(
    client: &Client,
    function: &FunctionRef,
    name: &str,
    version: &str,
    description: Option<&str>,
) -> Result<Alias, AwsError> {
    let err = match client
        .create_alias()
        .function_name(&function.id)
        .name(name)
        .function_version(version)
        .set_description(description.map(str::to_owned))
        .send()
        .await
    {
        Ok(out) => {
            return Ok(Alias::from_parts(
                name,
                out.function_version(),
                out.revision_id(),
                out.routing_config(),
                out.description(),
            ));
        }
        Err(err) => err,
    };
    let exists = matches!(
        err.as_service_error(),
        Some(CreateAliasError::ResourceConflictException(_))
    );
    let e = AwsError::from_sdk("CreateAlias", err, |e| {
        conflict_kind(aws_sdk_lambda::error::ProvideErrorMetadata::code(e))
    });
    if !exists {
        return Err(e);
    }
    match get_alias(client, function, name).await? {
        Some(now)
            if now.version == version
                && now.weights.is_empty()
                && now.description.as_deref() == description.filter(|d| !d.is_empty()) =>
        {
            Ok(now)
        }
        _ => Err(e.with_hint(format!(
            "alias {name} of {function} was created by someone else since it was read; \
             nothing was overwritten: see `ecr-lambda release status --function {function} \
             --alias {name}`, then run the command again"
        ))),
    }
}

/// UpdateAlias with the RevisionId `alias` was read at: `version` takes the traffic,
/// but for `weight` (another version and its share) when given. No weight clears the
/// alias's weights. The alias as Lambda answered (its new RevisionId); a concurrent
/// change is an [`AwsErrorKind::Conflict`], and nothing is written.
pub async fn update_alias(
    client: &Client,
    function: &FunctionRef,
    alias: &Alias,
    version: &str,
    weight: Option<(&str, f64)>,
) -> Result<Alias, AwsError> {
    update_alias_described(client, function, alias, version, weight, None).await
}

/// [`update_alias`], and the alias's description set when `description` is given
/// (else left as it is).
pub async fn update_alias_described(
    client: &Client,
    function: &FunctionRef,
    alias: &Alias,
    version: &str,
    weight: Option<(&str, f64)>,
    description: Option<&str>,
) -> Result<Alias, AwsError> {
    let routing = AliasRoutingConfiguration::builder()
        .set_additional_version_weights(Some(
            weight.map(|(v, w)| (v.to_owned(), w)).into_iter().collect(),
        ))
        .build();
    let name = &alias.name;
    let sent = client
        .update_alias()
        .function_name(&function.id)
        .name(name)
        .function_version(version)
        .routing_config(routing)
        .set_description(description.map(str::to_owned))
        .set_revision_id(alias.revision_id.clone())
        .send()
        .await;
    let err = match sent {
        Ok(out) => {
            return Ok(Alias::from_parts(
                name,
                out.function_version(),
                out.revision_id(),
                out.routing_config(),
                out.description(),
            ));
        }
        Err(err) => err,
    };
    // Only a 412 says the RevisionId no longer matches; a 409 says an update of the
    // function is in progress (Lambda's own words, FACTS "AWS as recorded"), which
    // says nothing about who moved the alias.
    let moved = matches!(
        err.as_service_error(),
        Some(UpdateAliasError::PreconditionFailedException(_))
    );
    let busy = matches!(
        err.as_service_error(),
        Some(UpdateAliasError::ResourceConflictException(_))
    );
    let e = AwsError::from_sdk("UpdateAlias", err, |e| match e {
        UpdateAliasError::PreconditionFailedException(_)
        | UpdateAliasError::ResourceConflictException(_) => Some(AwsErrorKind::Conflict),
        UpdateAliasError::ResourceNotFoundException(_) => Some(AwsErrorKind::NotFound),
        UpdateAliasError::TooManyRequestsException(_) => Some(AwsErrorKind::Throttled),
        UpdateAliasError::InvalidParameterValueException(_) => Some(AwsErrorKind::Invalid),
        _ => None,
    });
    if !moved {
        return Err(match busy {
            true => e.with_hint(format!(
                "an update of {function} is in progress, and Lambda refuses to change alias \
                 {name} until it ends; nothing was written: run the command again once it \
                 has (`aws lambda wait function-updated-v2 --function-name {function}`)"
            )),
            false => e,
        });
    }
    moved_by_whom(client, function, alias, version, weight, e).await
}

/// UpdateAlias refused with the RevisionId it was read at (412). When an earlier
/// attempt of this very write went through and only its answer was lost, the SDK's
/// retry meets our own change: the alias then is exactly what was sent, and goes on
/// from there. Anything else is someone else's change, not overwritten.
async fn moved_by_whom(
    client: &Client,
    function: &FunctionRef,
    alias: &Alias,
    version: &str,
    weight: Option<(&str, f64)>,
    refused: AwsError,
) -> Result<Alias, AwsError> {
    let name = &alias.name;
    let wanted: BTreeMap<String, f64> =
        weight.map(|(v, w)| (v.to_owned(), w)).into_iter().collect();
    match get_alias(client, function, name).await? {
        Some(now)
            if now.revision_id != alias.revision_id
                && now.version == version
                && now.weights == wanted =>
        {
            Ok(now)
        }
        _ => Err(refused.with_hint(format!(
            "alias {name} of {function} was changed by someone else since it was \
             read; nothing was overwritten: see `ecr-lambda release status \
             --function {function} --alias {name}`, then run the command again"
        ))),
    }
}

/// Every published version (ListVersionsByFunction, all pages), oldest first.
pub async fn list_versions(
    client: &Client,
    function: &FunctionRef,
) -> Result<Vec<Version>, AwsError> {
    let mut pages = client
        .list_versions_by_function()
        .function_name(&function.id)
        .into_paginator()
        .send();
    let mut versions = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ListVersionsByFunction", e, |_| None))?;
        versions.extend(page.versions().iter().filter_map(|v| {
            let version = v.version()?;
            Some(Version {
                version: version.to_owned(),
                number: version.parse().ok()?,
                code_sha256: v.code_sha256().map(str::to_owned),
            })
        }));
    }
    versions.sort_by_key(|v| v.number);
    Ok(versions)
}

/// PublishVersion of what `$LATEST` runs, only if it still holds `digest` and is
/// still at `revision_id`: the new version number.
pub async fn publish_version(
    client: &Client,
    function: &FunctionRef,
    digest: &Digest,
    revision_id: Option<&str>,
) -> Result<String, AwsError> {
    let out = client
        .publish_version()
        .function_name(&function.id)
        .code_sha256(digest.hex())
        .set_revision_id(revision_id.map(str::to_owned))
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk("PublishVersion", e, |e| {
                conflict_kind(aws_sdk_lambda::error::ProvideErrorMetadata::code(e))
            })
        })?;
    out.version().map(str::to_owned).ok_or_else(|| {
        AwsError::new(
            "PublishVersion",
            AwsErrorKind::Service,
            "Lambda published a version without naming it",
        )
    })
}
