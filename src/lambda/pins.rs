//! What a function pins: the image digest `$LATEST`, every published version and
//! every alias (its weighted version too) run. A version runs its image by digest,
//! so these are the images that must stay in ECR for the way back to work.

use std::sync::Arc;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::delete_function::DeleteFunctionError;

use super::releases::{self, Alias};
use super::{FunctionRef, FunctionState, get_function_error};
use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind};

/// GetFunction calls in flight at once for one function's versions.
pub const VERSION_READS: usize = 8;

/// The image a qualifier runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// `$LATEST`, a version number, or an alias name.
    pub qualifier: String,
    /// The version that runs: `$LATEST`, `$LATEST.PUBLISHED` or a number (an alias's version, or its
    /// weighted version).
    pub version: String,
    /// The image's digest (`None`: Lambda named none, a .zip function say).
    pub digest: Option<Digest>,
    /// Where Lambda pulls it from: `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY`.
    pub repository: Option<String>,
}

/// A function and everything it pins.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionPins {
    /// The function's name.
    pub name: String,
    /// The region it was read in.
    pub region: String,
    /// A container image function.
    pub is_image: bool,
    /// `DurableConfig` is set: durable executions stay pinned to their version.
    pub durable: bool,
    /// `$LATEST` first, then the versions oldest first, then the aliases by name
    /// (an alias with a weighted version has two pins).
    pub pins: Vec<Pin>,
    /// The aliases as read.
    pub aliases: Vec<Alias>,
}

impl FunctionPins {
    /// `FUNCTION:QUALIFIER`, as a report's `used_by` names a pin.
    pub fn used_by(&self, pin: &Pin) -> String {
        format!("{}:{}", self.name, pin.qualifier)
    }
}

/// Every alias of the function (ListAliases, all pages), by name.
pub async fn list_aliases(client: &Client, function: &FunctionRef) -> Result<Vec<Alias>, AwsError> {
    let mut pages = client
        .list_aliases()
        .function_name(&function.id)
        .into_paginator()
        .send();
    let mut aliases = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ListAliases", e, |_| None))?;
        aliases.extend(page.aliases().iter().filter_map(|a| {
            Some(Alias::from_parts(
                a.name()?,
                a.function_version(),
                a.revision_id(),
                a.routing_config(),
                a.description(),
            ))
        }));
    }
    aliases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(aliases)
}

fn pin(qualifier: &str, state: &FunctionState) -> Pin {
    Pin {
        qualifier: qualifier.to_owned(),
        version: state
            .version
            .clone()
            .unwrap_or_else(|| qualifier.to_owned()),
        digest: state.running_digest.clone(),
        repository: state.running_repository.clone(),
    }
}

/// Reads what `function` pins: GetFunction of `$LATEST`, ListVersionsByFunction and
/// ListAliases at once, then GetFunction of each version (at most
/// [`VERSION_READS`] at a time) for the repository its image is in.
pub async fn read(
    client: &Client,
    function: &FunctionRef,
    region: &str,
) -> Result<FunctionPins, AwsError> {
    let latest = async {
        let out = client
            .get_function()
            .function_name(&function.id)
            .send()
            .await
            .map_err(|e| get_function_error(function, e))?;
        let durable = out
            .configuration()
            .and_then(|c| c.durable_config())
            .is_some();
        Ok::<_, AwsError>((FunctionState::from_output(&out, region), durable))
    };
    let (latest, versions, aliases) = tokio::join!(
        latest,
        releases::list_versions(client, function),
        list_aliases(client, function)
    );
    let (latest, durable) = latest?;
    let (versions, aliases) = (versions?, aliases?);

    let limit = Arc::new(tokio::sync::Semaphore::new(VERSION_READS));
    let mut reads = tokio::task::JoinSet::new();
    for (i, v) in versions.iter().enumerate() {
        let (client, function, region) = (client.clone(), function.clone(), region.to_owned());
        let (limit, version) = (limit.clone(), v.version.clone());
        reads.spawn(async move {
            let _slot = limit
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let state = super::get_qualified(&client, &function, Some(&version), &region).await;
            (i, state)
        });
    }
    // A function on Lambda Managed Instances runs `$LATEST.PUBLISHED` when invoked
    // without a qualifier; ListVersionsByFunction's numbers do not name it. Read
    // alongside the versions.
    let published = latest.capacity_provider.is_some().then(|| {
        let (client, function, region) = (client.clone(), function.clone(), region.to_owned());
        tokio::spawn(async move { latest_published(&client, &function, &region).await })
    });
    let mut states: Vec<Option<FunctionState>> = vec![None; versions.len()];
    while let Some(done) = reads.join_next().await {
        let (i, state) = done.expect("GetFunction tasks do not panic");
        states[i] = Some(state?);
    }

    let mut pins = vec![Pin {
        version: "$LATEST".into(),
        ..pin("$LATEST", &latest)
    }];
    if let Some(task) = published
        && let Some(published) = task.await.expect("GetFunction tasks do not panic")?
    {
        pins.push(Pin {
            version: super::LATEST_PUBLISHED.into(),
            ..pin(super::LATEST_PUBLISHED, &published)
        });
    }
    let version_pins: Vec<Pin> = versions
        .iter()
        .zip(states.iter().flatten())
        .map(|(v, state)| Pin {
            version: v.version.clone(),
            ..pin(&v.version, state)
        })
        .collect();
    pins.extend(version_pins.iter().cloned());
    for alias in &aliases {
        let routed =
            std::iter::once(alias.version.as_str()).chain(alias.weights.keys().map(String::as_str));
        for version in routed {
            let of_version = version_pins.iter().find(|p| p.version == version);
            pins.push(Pin {
                qualifier: alias.name.clone(),
                version: version.to_owned(),
                digest: of_version.and_then(|p| p.digest.clone()),
                repository: of_version.and_then(|p| p.repository.clone()),
            });
        }
    }
    Ok(FunctionPins {
        name: latest.name.clone(),
        region: latest.region.clone(),
        is_image: latest.is_image,
        durable,
        pins,
        aliases,
    })
}

/// GetFunction of `$LATEST.PUBLISHED`; `None` before anything was published there.
async fn latest_published(
    client: &Client,
    function: &FunctionRef,
    region: &str,
) -> Result<Option<FunctionState>, AwsError> {
    match super::get_qualified(client, function, Some(super::LATEST_PUBLISHED), region).await {
        Ok(state) => Ok(Some(state)),
        Err(e) if e.kind == AwsErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// DeleteFunction of one published version (`Qualifier`): never `$LATEST`.
pub async fn delete_version(
    client: &Client,
    function: &FunctionRef,
    version: &str,
) -> Result<(), AwsError> {
    debug_assert!(
        version.bytes().all(|b| b.is_ascii_digit()),
        "only numbered versions are deleted"
    );
    client
        .delete_function()
        .function_name(&function.id)
        .qualifier(version)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            AwsError::from_sdk("DeleteFunction", e, |e| match e {
                DeleteFunctionError::ResourceNotFoundException(_) => Some(AwsErrorKind::NotFound),
                DeleteFunctionError::ResourceConflictException(_) => Some(AwsErrorKind::Conflict),
                DeleteFunctionError::TooManyRequestsException(_) => Some(AwsErrorKind::Throttled),
                DeleteFunctionError::InvalidParameterValueException(_) => {
                    Some(AwsErrorKind::Invalid)
                }
                _ => None,
            })
        })
}
