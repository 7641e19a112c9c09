//! Gradual releases, as a schedule: the weights a weighted alias goes through, how
//! long each is held, and when the alarms are read while it is. Pure: no I/O and no
//! clock; `ops::release` walks the schedule on the Lambda client's clock.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How often the alarms are read while a weight is held, at the least; a hold is cut
/// into equal slices no longer than this.
pub const ALARM_INTERVAL: Duration = Duration::from_secs(5);

/// The shortest hold: the alarms are read at most twice a second, and a hold is read
/// at least once, at its end.
pub const MIN_HOLD: Duration = Duration::from_secs(1);

/// The longest hold: a day. A longer bake is more likely a typo (`--bake 5h` for 5m)
/// than a plan, and a CI job would not outlive it.
pub const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);

/// A share of an alias's traffic, in hundredths of a percent: 1000 is 10 %. Lambda's
/// `AdditionalVersionWeights` takes a fraction (0.1); hundredths keep sums exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Weight(u32);

impl Weight {
    /// All the traffic.
    pub const FULL: Weight = Weight(10_000);

    /// The weight as Lambda's `AdditionalVersionWeights` takes it: 0.0 to 1.0.
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    /// The weight in percent (10.0 for 10 %).
    pub fn percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// A fraction as Lambda reports it, to the nearest hundredth of a percent.
    pub fn from_fraction(fraction: f64) -> Weight {
        Weight((fraction.clamp(0.0, 1.0) * 10_000.0).round() as u32)
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(100) {
            write!(f, "{}%", self.0 / 100)
        } else {
            write!(f, "{}%", self.percent())
        }
    }
}

/// A `--canary` or `--linear` PERCENT: more than 0 and less than 100, at most two
/// decimals.
impl FromStr for Weight {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "{s:?} is not a percentage: give a number above 0 and below 100, such as 10 or 2.5"
            )
        };
        let (whole, decimals) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !decimals.bytes().all(|b| b.is_ascii_digit())
            || decimals.len() > 2
            || whole.len() > 3
            || (s.contains('.') && decimals.is_empty())
        {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let hundredths: u32 = format!("{decimals:0<2}").parse().map_err(|_| bad())?;
        let weight = whole * 100 + hundredths;
        if weight == 0 || weight >= Weight::FULL.0 {
            return Err(bad());
        }
        Ok(Weight(weight))
    }
}

/// A DURATION: `30s`, `5m`, `1h`, or a sum of them (`1m30s`), from 1 s to 24 h.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad =
        || format!("{s:?} is not a duration: give a number and a unit, such as 30s, 5m or 1h");
    let mut total = 0u64;
    let mut digits = String::new();
    let mut units_seen = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let scale = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        // Each unit once, largest first: 1h30m, not 30m1h or 5m5m.
        if digits.is_empty()
            || units_seen.contains(c)
            || units_seen.chars().any(|u| rank(u) <= rank(c))
        {
            return Err(bad());
        }
        units_seen.push(c);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || units_seen.is_empty() {
        return Err(bad());
    }
    let duration = Duration::from_secs(total);
    if !(MIN_HOLD..=MAX_HOLD).contains(&duration) {
        return Err(format!("{s:?} is out of range: give 1s to 24h"));
    }
    Ok(duration)
}

fn rank(unit: char) -> u8 {
    match unit {
        's' => 0,
        'm' => 1,
        _ => 2,
    }
}

/// A duration as the flags write it: `5m`, `1h30m`, `45s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// How traffic moves to the new version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// `--canary PERCENT --bake DURATION`: PERCENT for DURATION, then all of it.
    Canary {
        /// The canary's share.
        weight: Weight,
        /// How long it is held.
        bake: Duration,
    },
    /// `--linear PERCENT --every DURATION`: PERCENT more every DURATION until all.
    Linear {
        /// The share added at each step.
        step: Weight,
        /// How long each share is held.
        every: Duration,
    },
}

/// One weight of a release and how long it is held before the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The new version's share while this step lasts.
    pub weight: Weight,
    /// How long it is held; the alarms are read throughout.
    pub hold: Duration,
}

impl Strategy {
    /// The weighted steps, in order; promotion (all the traffic) follows the last.
    pub fn steps(&self) -> Vec<Step> {
        match *self {
            Strategy::Canary { weight, bake } => vec![Step { weight, hold: bake }],
            Strategy::Linear { step, every } => (1..)
                .map(|k| Weight(step.0 * k))
                .take_while(|w| *w < Weight::FULL)
                .map(|weight| Step {
                    weight,
                    hold: every,
                })
                .collect(),
        }
    }

    /// From the first weight to promotion, when no alarm fires.
    pub fn total(&self) -> Duration {
        self.steps().iter().map(|s| s.hold).sum()
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Canary { weight, bake } => {
                write!(f, "canary {weight} for {}", format_duration(*bake))
            }
            Strategy::Linear { step, every } => {
                write!(f, "linear {step} every {}", format_duration(*every))
            }
        }
    }
}

/// When, from the start of a hold, the alarms are read: equal slices of at most
/// [`ALARM_INTERVAL`], the last at the hold's end (the gate for the next weight).
/// A hold of at least [`MIN_HOLD`] keeps reads at least half a second apart.
pub fn alarm_reads(hold: Duration) -> Vec<Duration> {
    let slices = hold.as_nanos().div_ceil(ALARM_INTERVAL.as_nanos()).max(1) as u32;
    (1..=slices).map(|k| hold * k / slices).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Weight {
        s.parse().unwrap()
    }

    #[test]
    fn percentages() {
        assert_eq!(w("10").fraction(), 0.1);
        assert_eq!(w("2.5").fraction(), 0.025);
        assert_eq!(w("0.01").fraction(), 0.0001);
        assert_eq!(w("99.99").fraction(), 0.9999);
        assert_eq!(w("33.3").to_string(), "33.3%");
        assert_eq!(w("10").to_string(), "10%");
        for bad in [
            "0", "100", "100.0", "", "10%", "-5", "1.234", "1.", ".5", "1e1", "1000",
        ] {
            assert!(bad.parse::<Weight>().is_err(), "{bad}");
        }
        assert_eq!(Weight::from_fraction(0.1), w("10"));
        assert_eq!(Weight::from_fraction(0.30000000000000004), w("30"));
    }

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(s).unwrap().as_secs();
        assert_eq!(d("30s"), 30);
        assert_eq!(d("5m"), 300);
        assert_eq!(d("1h"), 3600);
        assert_eq!(d("1m30s"), 90);
        assert_eq!(d("1h0m5s"), 3605);
        assert_eq!(d("24h"), 86_400);
        for bad in [
            "",
            "5",
            "m",
            "0s",
            "25h",
            "5x",
            "30s1m",
            "5m5m",
            "1.5m",
            " 5m",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
    }

    #[test]
    fn canary_is_one_step_then_promotion() {
        let s = Strategy::Canary {
            weight: w("10"),
            bake: Duration::from_secs(300),
        };
        assert_eq!(
            s.steps(),
            vec![Step {
                weight: w("10"),
                hold: Duration::from_secs(300)
            }]
        );
        assert_eq!(s.to_string(), "canary 10% for 5m");
    }

    #[test]
    fn linear_climbs_until_all_the_traffic() {
        let weights = |p: &str| {
            Strategy::Linear {
                step: w(p),
                every: Duration::from_secs(60),
            }
            .steps()
            .iter()
            .map(|s| s.weight.to_string())
            .collect::<Vec<_>>()
        };
        assert_eq!(weights("25"), ["25%", "50%", "75%"]);
        assert_eq!(weights("30"), ["30%", "60%", "90%"]);
        assert_eq!(weights("50"), ["50%"]);
        assert_eq!(weights("60"), ["60%"]);
        assert_eq!(weights("10").len(), 9);
        assert_eq!(weights("0.01").len(), 9_999);
        let s = Strategy::Linear {
            step: w("10"),
            every: Duration::from_secs(60),
        };
        assert_eq!(s.total(), Duration::from_secs(540));
    }

    #[test]
    fn alarms_are_read_at_least_every_5_s_and_at_most_twice_a_second() {
        for secs in [1u64, 2, 3, 5, 6, 7, 10, 11, 59, 60, 300, 3601, 86_400] {
            let hold = Duration::from_secs(secs);
            let reads = alarm_reads(hold);
            assert_eq!(*reads.last().unwrap(), hold, "{secs}");
            let mut previous = Duration::ZERO;
            for at in reads {
                let gap = at - previous;
                assert!(gap <= ALARM_INTERVAL, "{secs}: gap {gap:?}");
                assert!(gap >= Duration::from_millis(500), "{secs}: gap {gap:?}");
                previous = at;
            }
        }
        assert_eq!(alarm_reads(Duration::from_secs(3)).len(), 1);
        assert_eq!(alarm_reads(Duration::from_secs(300)).len(), 60);
    }
}
