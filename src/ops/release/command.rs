//! `release status|promote|abort`: a gradual release read, finished or undone from
//! its alias, by any invocation (the one that started it may be long gone).

use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::lambda::releases::{self, Alias};
use crate::lambda::{self, FunctionRef};
use crate::manifest::findings::Finding;
use crate::manifest::statement::alias_description;
use crate::ops::{Clients, Outcome, way_back};
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
        let action = req.action;
        reads.spawn(async move { (i, read_alias_state(&clients, &f, &name, action).await) });
    }
    let mut states: Vec<Read> = vec![None; req.functions.len()];
    while let Some(done) = reads.join_next().await {
        let (i, state) = done.expect("alias reads do not panic");
        states[i] = Some(state?);
    }
    let states = match all_or_nothing(req, states) {
        Ok(states) => states,
        Err(refused) => return Ok(refused),
    };
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

/// One alias as read, with what was found of it (`None` until read).
type Read = Option<AliasRead>;

/// An abort returns each alias to its own version: when one of them runs an image
/// Lambda cannot pull, nothing is written anywhere (all or nothing, as a deploy), and
/// every alias is reported refused (exit 1).
fn all_or_nothing(
    req: &ReleaseRequest,
    states: Vec<Read>,
) -> Result<Vec<Read>, Outcome<ReleaseCommandReport>> {
    let refused: Vec<String> = states
        .iter()
        .flatten()
        .filter(|(_, s, _)| s.refused.is_some())
        .map(|(_, s, _)| format!("{} alias {}", s.function, s.alias))
        .collect();
    if refused.is_empty() {
        return Ok(states);
    }
    let aliases = states
        .into_iter()
        .flatten()
        .map(|(_, mut state, _)| {
            state.action = AliasAction::Refused;
            state.refused.get_or_insert_with(|| {
                format!(
                    "not written: the abort of {} was refused, and an abort writes all or \
                     nothing",
                    refused.join(", ")
                )
            });
            state
        })
        .collect();
    Err(Outcome {
        report: ReleaseCommandReport {
            command: req.action.name(),
            aliases,
        },
        exit: ExitCode::NotUsable,
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
    action: ReleaseAction,
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
        async move { lambda::get_qualified(&client, &function, Some(&version), &region).await }
    };
    let weighted_version = weighted.as_ref().map(|(v, _)| v.clone());
    // A promotion leaves the alias's own version behind as the way back, and an abort
    // returns to it: either way its image is judged, as a deploy's way back and a
    // rollback's target are (one DescribeImages, read as soon as the version's image
    // is known, alongside the weighted version's GetFunction).
    let judged = weighted.is_some() && action != ReleaseAction::Status;
    let own = async {
        let state = image_of(alias.version.clone()).await?;
        let back = match way_back::Image::of(&state).filter(|_| judged) {
            Some(image) => {
                Some(judge_way_back(clients, function, &alias.version, image, action).await?)
            }
            None => None,
        };
        Ok::<_, Error>((state.running_digest.map(|d| d.to_string()), back))
    };
    let (own, weighted_image) = tokio::join!(own, async {
        match weighted_version {
            Some(v) => image_of(v).await.map(|s| {
                Some((
                    s.running_digest.as_ref().map(|d| d.to_string()),
                    s.not_invocable(),
                ))
            }),
            None => Ok(None),
        }
    });
    let (image_digest, back) = own?;
    let (warnings, refused) = back.unwrap_or_default();
    let (weighted_image, weighted_not_invocable) = weighted_image?.unwrap_or_default();
    let state = AliasState {
        function: function.to_string(),
        alias: name.to_owned(),
        version: alias.version.clone(),
        image_digest,
        weighted_version: weighted.as_ref().map(|(v, _)| v.clone()),
        weight: weighted.as_ref().map(|(_, w)| *w),
        weighted_image_digest: weighted_image,
        description: alias.description.clone(),
        action: AliasAction::Read,
        weights_removed: None,
        warnings,
        refused,
        error: None,
    };
    Ok((alias, state, weighted_not_invocable))
}

/// The alias's own version judged as the way back: for `promote`, a warning when
/// its image is at risk (a DescribeImages that fails says nothing, as in a deploy);
/// for `abort`, the refusal when Lambda cannot pull it (a DescribeImages that fails
/// is the command's error, as in a rollback).
async fn judge_way_back(
    clients: &Clients,
    function: &FunctionRef,
    version: &str,
    image: way_back::Image,
    action: ReleaseAction,
) -> Result<(Vec<Finding>, Option<String>), Error> {
    let described = way_back::describe(clients, &image).await;
    Ok(match action {
        ReleaseAction::Abort => {
            let refused = way_back::unpullable(described?.as_ref()).map(|why| {
                way_back::refusal(
                    why,
                    version,
                    &image,
                    &function.to_string(),
                    "promote the release instead (`ecr-lambda release promote`)",
                )
            });
            (Vec::new(), refused)
        }
        // A read that fails says nothing for a promotion, as in a deploy.
        _ => match described {
            Ok(facts) => (
                way_back::at_risk(clients, version, &image, facts.as_ref())
                    .await
                    .into_iter()
                    .collect(),
                None,
            ),
            Err(_) => (Vec::new(), None),
        },
    })
}
