//! CloudWatch alarms that gate a gradual release: the only code that calls CloudWatch.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsError;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use serde::Serialize;

use crate::error::{AwsError, AwsErrorKind};

/// The most alarm names one DescribeAlarms takes.
pub const MAX_ALARMS: usize = 100;

/// An alarm's state, as CloudWatch names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum State {
    /// `OK`.
    #[serde(rename = "OK")]
    Ok,
    /// `ALARM`: the release stops.
    #[serde(rename = "ALARM")]
    Alarm,
    /// `INSUFFICIENT_DATA`: not enough data to judge (a new version with no traffic
    /// yet, say); it does not stop a release, as CodeDeploy's alarms do not.
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl State {
    /// As CloudWatch writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Alarm => "ALARM",
            State::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm as DescribeAlarms read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Alarm {
    /// The alarm's name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// CloudWatch's `StateReason`.
    pub reason: Option<String>,
}

/// DescribeAlarms of `names` (metric and composite alarms), in the order given. A
/// name CloudWatch does not know is an [`AwsErrorKind::NotFound`] error: an alarm
/// that cannot be read can never stop a release.
pub async fn read(client: &Client, names: &[String]) -> Result<Vec<Alarm>, AwsError> {
    let mut pages = client
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .max_records(100)
        .into_paginator()
        .send();
    let mut found: Vec<Alarm> = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            AwsError::from_sdk("DescribeAlarms", e, |e| match e {
                DescribeAlarmsError::InvalidNextToken(_) => Some(AwsErrorKind::Invalid),
                _ => None,
            })
        })?;
        let metric = page
            .metric_alarms()
            .iter()
            .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
        let composite = page
            .composite_alarms()
            .iter()
            .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
        for (name, state, reason) in metric.chain(composite) {
            let Some(name) = name else { continue };
            let state = match state {
                Some(StateValue::Alarm) => State::Alarm,
                Some(StateValue::Ok) => State::Ok,
                _ => State::InsufficientData,
            };
            found.push(Alarm {
                name: name.to_owned(),
                state,
                reason: reason.map(str::to_owned),
            });
        }
    }
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !found.iter().any(|a| &a.name == *n))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(AwsError::new(
            "DescribeAlarms",
            AwsErrorKind::NotFound,
            format!("no CloudWatch alarm named {}", missing.join(", ")),
        )
        .with_hint(
            "check the alarm names and the region: alarms are read in the function's region",
        ));
    }
    Ok(names
        .iter()
        .filter_map(|n| found.iter().find(|a| &a.name == n).cloned())
        .collect())
}
