//! The targets and whether each is met. They are reported, never asserted.

use serde::Serialize;

use super::format;
use crate::deployed::DeployedReport;
use crate::memory::MemoryReport;
use crate::runner::{Metric, Row};
use crate::scenario::{Path, Scenario};
use crate::security::{Mode, SecurityReport};

/// Which side of the limit is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Bound {
    /// `measured <= limit`.
    AtMost,
    /// `measured >= limit`.
    AtLeast,
}

/// What the measured value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Unit {
    /// reqrep / raw.
    Ratio,
    /// Bytes.
    Bytes,
    /// A share of something, 0..1.
    Share,
}

/// One target and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Target {
    /// What is compared, e.g. `direct lockstep, 64 B: p50 reqrep/raw`.
    pub(crate) name: String,
    /// The limit.
    pub(crate) limit: f64,
    /// Which side of the limit is good.
    pub(crate) bound: Bound,
    /// The unit of `limit` and `measured`.
    pub(crate) unit: Unit,
    /// The measurement, when there is one.
    pub(crate) measured: Option<f64>,
    /// Whether the target is met (`None`: not measured).
    pub(crate) met: Option<bool>,
}

impl Target {
    fn new(name: String, bound: Bound, limit: f64, unit: Unit, measured: Option<f64>) -> Self {
        let met = measured.map(|m| match bound {
            Bound::AtMost => m <= limit,
            Bound::AtLeast => m >= limit,
        });
        Self {
            name,
            limit,
            bound,
            unit,
            measured,
            met,
        }
    }

    fn value(&self, v: Option<f64>) -> String {
        match (self.unit, v) {
            (_, None) => "n/a".into(),
            (Unit::Ratio, v) => format::ratio(v),
            (Unit::Bytes, Some(v)) => format!("{v:.0} B"),
            (Unit::Share, Some(v)) => format!("{:.0} %", v * 100.0),
        }
    }

    /// `<= 1.10x`, `>= 0.80x`, `<= 300 B`.
    pub(crate) fn limit_text(&self) -> String {
        let op = match self.bound {
            Bound::AtMost => "<=",
            Bound::AtLeast => ">=",
        };
        format!("{op} {}", self.value(Some(self.limit)))
    }

    /// The measurement as text.
    pub(crate) fn measured_text(&self) -> String {
        self.value(self.measured)
    }

    /// `met`, `MISSED`, or `not measured`.
    pub(crate) fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        }
    }

    /// How far a missed target is from its limit, as `+0.13x over`.
    pub(crate) fn gap(&self) -> String {
        match (self.met, self.measured) {
            (Some(false), Some(m)) => {
                let (diff, word) = match self.bound {
                    Bound::AtMost => (m - self.limit, "over"),
                    Bound::AtLeast => (self.limit - m, "short"),
                };
                format!("{} {word}", self.value(Some(diff)))
            }
            _ => String::new(),
        }
    }
}

/// Every target, in table order. A headline row missing from `rows` (when
/// `--only` filtered it out) has no target.
pub(crate) fn evaluate(
    rows: &[Row],
    memory: Option<&MemoryReport>,
    security: Option<&SecurityReport>,
    deployed: Option<&DeployedReport>,
) -> Vec<Target> {
    let mut targets = Vec::new();
    let find = |s: Scenario| rows.iter().find(|r| r.scenario == s);
    for payload in [64, 4096] {
        if let Some(row) = find(Scenario::lockstep(Path::Direct, payload)) {
            targets.push(Target::new(
                format!("{}: p50 reqrep/raw", row.scenario),
                Bound::AtMost,
                1.10,
                Unit::Ratio,
                row.ratio(Metric::P50),
            ));
        }
    }
    for payload in [64, 4096] {
        if let Some(row) = find(Scenario::lockstep(Path::BrokeredLockstep, payload)) {
            targets.push(Target::new(
                format!("{}: p50 reqrep/raw", row.scenario),
                Bound::AtMost,
                1.15,
                Unit::Ratio,
                row.ratio(Metric::P50),
            ));
        }
    }
    // Pipelined: throughput against raw and NATS, CPU against raw (64 B:
    // the per-request overhead; 4 KiB: the bytes).
    for (payload, raw_floor, nats_floor) in [(64, 0.80, 1.20), (4096, 0.95, 1.00)] {
        if let Some(row) = find(Scenario::pipelined(payload, 4, 1)) {
            targets.push(Target::new(
                format!("{}: throughput reqrep/raw", row.scenario),
                Bound::AtLeast,
                raw_floor,
                Unit::Ratio,
                row.ratio(Metric::Throughput),
            ));
            if payload == 64 {
                targets.push(Target::new(
                    format!("{}: CPU per request reqrep/raw", row.scenario),
                    Bound::AtMost,
                    1.30,
                    Unit::Ratio,
                    row.ratio(Metric::Cpu),
                ));
            }
            targets.push(Target::new(
                format!("{}: throughput reqrep/NATS", row.scenario),
                Bound::AtLeast,
                nats_floor,
                Unit::Ratio,
                row.nats_ratio(Metric::Throughput),
            ));
        }
    }
    if let Some(d) = deployed {
        targets.push(Target::new(
            format!(
                "deployed shape (every role a process), {}: throughput reqrep/raw",
                d.scenario
            ),
            Bound::AtLeast,
            DEPLOYED_FLOOR,
            Unit::Ratio,
            d.ratio(Metric::Throughput),
        ));
    }
    if let Some(m) = memory {
        targets.push(Target::new(
            format!(
                "broker memory: bytes per queued request beyond the {} B payload",
                m.payload
            ),
            Bound::AtMost,
            300.0,
            Unit::Bytes,
            Some(m.bytes_per_request_beyond_payload()),
        ));
        targets.push(Target::new(
            "broker memory: RSS left above baseline after draining, share of the queued growth"
                .into(),
            Bound::AtMost,
            NEAR_BASELINE,
            Unit::Share,
            Some(m.residual_share()),
        ));
    }
    if let Some(s) = security {
        targets.push(Target::new(
            format!(
                "{}: throughput CURVE + access policy / CURVE alone",
                s.scenario
            ),
            Bound::AtLeast,
            AUTHORIZATION_FLOOR,
            Unit::Ratio,
            s.ratio(Mode::CurvePolicy, Mode::Curve, Metric::Throughput),
        ));
    }
    targets
}

/// The deployed shape's throughput floor against raw processes.
pub(crate) const DEPLOYED_FLOOR: f64 = 0.80;

/// Authorization (ZAP and a permission check per message) may cost at most
/// 5 % of the throughput of CURVE alone.
pub(crate) const AUTHORIZATION_FLOOR: f64 = 0.95;

/// "Near baseline": at most this share of the growth while queued is still
/// resident after draining.
pub(crate) const NEAR_BASELINE: f64 = 0.20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_gaps() {
        let over = Target::new("p50".into(), Bound::AtMost, 1.10, Unit::Ratio, Some(1.23));
        assert_eq!(
            (over.verdict(), over.gap()),
            ("MISSED", "0.13x over".to_owned())
        );
        assert_eq!(over.limit_text(), "<= 1.10x");
        let short = Target::new("thr".into(), Bound::AtLeast, 0.80, Unit::Ratio, Some(0.70));
        assert_eq!(
            (short.verdict(), short.gap()),
            ("MISSED", "0.10x short".to_owned())
        );
        let ok = Target::new("mem".into(), Bound::AtMost, 300.0, Unit::Bytes, Some(236.4));
        assert_eq!(
            (ok.verdict(), ok.gap(), ok.measured_text()),
            ("met", String::new(), "236 B".to_owned())
        );
        let none = Target::new("x".into(), Bound::AtMost, 0.2, Unit::Share, None);
        assert_eq!(
            (none.verdict(), none.measured_text()),
            ("not measured", "n/a".to_owned())
        );
        assert_eq!(none.limit_text(), "<= 20 %");
    }
}
