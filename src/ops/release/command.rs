//! `release status|promote|abort`: a gradual release read, finished or undone from
//! its alias, by any invocation (the one that started it may be long gone).

use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::lambda::releases::{self, Alias};
use crate::lambda::{self, FunctionRef};
use crate::manifest::statement::alias_description;
use crate::ops::{Clients, Outcome};
use crate::output::{AliasAction, AliasState, ReleaseCommandReport};

/// `release status|promote|abort`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseAction {
    /// Read the aliases and the images their versions run.
    Status,
    /// Move each alias to its weighted version, with all the traffic.
    Promote,
    /// Clear each alias's weights: its version takes all the traffic back.
    Abort,
}

impl ReleaseAction {
    fn name(self) -> &'static str {
        match self {
            ReleaseAction::Status => "status",
            ReleaseAction::Promote => "promote",
            ReleaseAction::Abort => "abort",
        }
    }
}

/// What `release status|promote|abort` is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// What to do.
    pub action: ReleaseAction,
    /// The functions, each with an alias of that name.
    pub functions: Vec<FunctionRef>,
    /// The alias.
    pub alias: String,
    /// Write nothing; say what would be written.
    pub dry_run: bool,
}

/// Reads each function's alias (GetAlias) and the images of its versions; `promote`
/// and `abort` then write it with the RevisionId it was read at. An alias that does
/// not exist is a not-found error (exit 3), as a function that does not exist is.
/// After Ctrl-C no further alias is written.
pub async fn release(
    clients: &Clients,
    req: &ReleaseRequest,
) -> Result<Outcome<ReleaseCommandReport>, Error> {
    let mut reads = tokio::task::JoinSet::new();
    for (i, f) in req.functions.iter().cloned().enumerate() {
        let (clients, name) = (clients.clone(), req.alias.clone());
        reads.spawn(async move { (i, read_alias_state(&clients, &f, &name).await) });
    }
    let mut states: Vec<Option<AliasRead>> = vec![None; req.functions.len()];
    while let Some(done) = reads.join_next().await {
        let (i, state) = done.expect("alias reads do not panic");
        states[i] = Some(state?);
    }
    let mut aliases = Vec::new();
    let mut first_error: Option<Error> = None;
    let mut interrupted = false;
    for (function, state) in req.functions.iter().zip(states) {
        let (alias, mut state, weighted_not_invocable) = state.expect("every alias was read");
        let weighted = alias.weighted().map(|(v, _)| v.to_owned());
        let write = match (req.action, &weighted) {
            (ReleaseAction::Status, _) => None,
            (_, None) => {
                state.action = AliasAction::Unchanged;
                None
            }
            (ReleaseAction::Promote, Some(v)) => Some((v.clone(), AliasAction::Promoted)),
            (ReleaseAction::Abort, Some(_)) => Some((alias.version.clone(), AliasAction::Aborted)),
        };
        if let Some((version, action)) = write {
            state.weights_removed = Some(alias.weights.clone());
            // Only an Active version takes all of an alias's traffic (an abort goes
            // back to the version that already had the rest of it).
            let refused = (action == AliasAction::Promoted)
                .then_some(weighted_not_invocable)
                .flatten();
            if let Some(why) = refused {
                state.weights_removed = None;
                let e = Error::from(not_promoted(function, &alias, &version, &why));
                state.error = Some((&e).into());
                first_error.get_or_insert(e);
            } else if req.dry_run {
                state.action = AliasAction::Planned;
            } else if crate::interrupt::heard() {
                interrupted = true;
                state.weights_removed = None;
                state.error = Some(
                    (&Error::Interrupted("interrupted before this alias was written".into()))
                        .into(),
                );
            } else if let Err(e) =
                write_alias(clients, function, &alias, &mut state, &version, action).await
            {
                state.weights_removed = None;
                state.error = Some((&e).into());
                first_error.get_or_insert(e);
            }
        }
        aliases.push(state);
    }
    // One alias: its error is the command's. Several: each reports its own.
    let failed = aliases.iter().any(|a| a.error.is_some());
    if let Some(e) = first_error
        && req.functions.len() == 1
    {
        return Err(e);
    }
    Ok(Outcome {
        report: ReleaseCommandReport {
            command: req.action.name(),
            aliases,
        },
        // Ctrl-C kept some alias from being written: the user stopped it (130).
        exit: if interrupted {
            ExitCode::Interrupted
        } else if failed {
            ExitCode::Aws
        } else {
            ExitCode::Success
        },
    })
}

/// UpdateAlias with the RevisionId read: `version` takes all the traffic; the
/// alias's state then says what it runs.
async fn write_alias(
    clients: &Clients,
    function: &FunctionRef,
    alias: &Alias,
    state: &mut AliasState,
    version: &str,
    action: AliasAction,
) -> Result<(), Error> {
    // A promotion records what the alias now runs in its description, as the
    // deploy's own promotion and rollback do; an abort leaves it (the alias's
    // version, which it describes, takes the traffic back).
    let description = match action {
        AliasAction::Promoted => state
            .weighted_image_digest
            .as_deref()
            .and_then(|d| d.parse::<Digest>().ok())
            .map(|d| alias_description(&d, None)),
        _ => None,
    };
    let after = releases::update_alias_described(
        &clients.lambda_for(function).0,
        function,
        alias,
        version,
        None,
        description.as_deref(),
    )
    .await?;
    state.action = action;
    if action == AliasAction::Promoted {
        state.image_digest = state.weighted_image_digest.take();
    }
    state.version = after.version;
    state.description = after.description;
    state.weighted_version = None;
    state.weight = None;
    state.weighted_image_digest = None;
    Ok(())
}

/// An alias as read, its state for the report, and why its weighted version cannot
/// take all the traffic (its state, when it is not Active).
type AliasRead = (Alias, AliasState, Option<String>);

/// A promotion refused: the weighted version is not Active.
fn not_promoted(function: &FunctionRef, alias: &Alias, version: &str, why: &str) -> AwsError {
    let name = &alias.name;
    AwsError::new(
        "GetFunction",
        AwsErrorKind::Conflict,
        format!(
            "version {version} of {function} is {why}; only an Active version takes all of an \
             alias's traffic, and alias {name} was not promoted"
        ),
    )
    .with_hint(format!(
        "an Inactive version turns Active again once invoked (`aws lambda invoke \
         --function-name {function} --qualifier {version} out.json`); a Failed one cannot \
         take the traffic: `ecr-lambda release abort --function {function} --alias {name}`"
    ))
}

async fn read_alias_state(
    clients: &Clients,
    function: &FunctionRef,
    name: &str,
) -> Result<AliasRead, Error> {
    let (client, region) = clients.lambda_for(function);
    let alias = releases::get_alias(&client, function, name)
        .await?
        .ok_or_else(|| {
            AwsError::new(
                "GetAlias",
                AwsErrorKind::NotFound,
                format!("{function} has no alias {name}"),
            )
            .with_hint("check the function and alias names, and the region (--region)")
        })?;
    let weighted = alias.weighted().map(|(v, w)| (v.to_owned(), w));
    let image_of = |version: String| {
        let (client, region) = (client.clone(), region.clone());
        let function = function.clone();
        async move {
            lambda::get_qualified(&client, &function, Some(&version), &region)
                .await
                .map(|s| {
                    (
                        s.running_digest.as_ref().map(|d| d.to_string()),
                        s.not_invocable(),
                    )
                })
        }
    };
    let weighted_version = weighted.as_ref().map(|(v, _)| v.clone());
    let (image, weighted_image) = tokio::join!(image_of(alias.version.clone()), async {
        match weighted_version {
            Some(v) => image_of(v).await.map(Some),
            None => Ok(None),
        }
    });
    let (weighted_image, weighted_not_invocable) = weighted_image?.unwrap_or_default();
    let state = AliasState {
        function: function.to_string(),
        alias: name.to_owned(),
        version: alias.version.clone(),
        image_digest: image?.0,
        weighted_version: weighted.as_ref().map(|(v, _)| v.clone()),
        weight: weighted.as_ref().map(|(_, w)| *w),
        weighted_image_digest: weighted_image,
        description: alias.description.clone(),
        action: AliasAction::Read,
        weights_removed: None,
        error: None,
    };
    Ok((alias, state, weighted_not_invocable))
}
