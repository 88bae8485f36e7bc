//! What security costs on the pipelined path: plaintext, CURVE, and CURVE
//! with an access policy (ZAP at the handshake, a permission check per
//! message), measured in the same run, alternating P C A P C A ...

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use reqrep_core::curve::CurveKeyPair;
use serde::Serialize;

use crate::plan::Budget;
use crate::runner::{Metric, SideResult};
use crate::scenario::Scenario;
use crate::stack::{self, SERVICE, Secured};
use crate::stats::ratio;
use crate::{BenchError, WorkerKind, variants};

/// How the stack is secured in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    /// No security.
    Plaintext,
    /// CURVE on every socket; the broker accepts any client key.
    Curve,
    /// CURVE, and the broker's access policy lists the client (may call the
    /// service) and the workers (may serve it).
    CurvePolicy,
}

impl Mode {
    /// All modes, in the order they alternate.
    pub(crate) const ALL: [Self; 3] = [Self::Plaintext, Self::Curve, Self::CurvePolicy];

    /// The label in tables.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Curve => "CURVE",
            Self::CurvePolicy => "CURVE + access policy",
        }
    }
}

/// The runs of one mode.
#[derive(Debug, Clone)]
pub(crate) struct ModeResult {
    /// The mode.
    pub(crate) mode: Mode,
    /// Its runs.
    pub(crate) runs: SideResult,
}

/// The security rows: one per mode, on one scenario.
#[derive(Debug, Clone)]
pub(crate) struct SecurityReport {
    /// What every run measures.
    pub(crate) scenario: Scenario,
    /// Plaintext, CURVE, CURVE + policy, in that order.
    pub(crate) modes: Vec<ModeResult>,
}

impl SecurityReport {
    fn median(&self, mode: Mode, metric: Metric) -> Option<f64> {
        self.modes
            .iter()
            .find(|m| m.mode == mode)
            .and_then(|m| m.runs.median(metric))
    }

    /// `median(mode) / median(base)` of `metric`.
    pub(crate) fn ratio(&self, mode: Mode, base: Mode, metric: Metric) -> Option<f64> {
        ratio(self.median(mode, metric), self.median(base, metric))
    }
}

/// The scenario of the security rows: the headline pipelined row.
pub(crate) fn scenario() -> Scenario {
    Scenario::pipelined(64, 4, 1)
}

/// Keys and files of a secured run, removed on drop.
struct Material {
    dir: PathBuf,
    curve: Secured,
    policy: Secured,
}

impl Material {
    /// A broker key file, a client and a worker identity, and an access
    /// policy that lets the client call and the workers serve [`SERVICE`].
    fn create() -> Result<Self, BenchError> {
        let broker = CurveKeyPair::generate().map_err(BenchError::reqrep)?;
        let client = CurveKeyPair::generate().map_err(BenchError::reqrep)?;
        let worker = CurveKeyPair::generate().map_err(BenchError::reqrep)?;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "reqrep-bench-security-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| BenchError::reqrep(format!("{}: {e}", dir.display())))?;
        let key_file = dir.join("broker.key");
        broker
            .write_key_file(&key_file)
            .map_err(|e| BenchError::reqrep(format!("{}: {e}", key_file.display())))?;
        let access_file = dir.join("access.toml");
        write_policy(&access_file, &client, &worker)?;
        let curve = Secured {
            broker_key_file: Some(key_file),
            access_file: None,
            client: Some((broker.public, client)),
            worker: Some((broker.public, worker)),
        };
        let policy = Secured {
            access_file: Some(access_file),
            ..curve.clone()
        };
        Ok(Self { dir, curve, policy })
    }

    fn secured(&self, mode: Mode) -> Secured {
        match mode {
            Mode::Plaintext => Secured::default(),
            Mode::Curve => self.curve.clone(),
            Mode::CurvePolicy => self.policy.clone(),
        }
    }
}

impl Drop for Material {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The policy: the client calls [`SERVICE`], the workers serve it.
fn write_policy(
    path: &Path,
    client: &CurveKeyPair,
    worker: &CurveKeyPair,
) -> Result<(), BenchError> {
    let text = format!(
        "[[identity]]\nname = \"bench-client\"\nkey = \"{}\"\ncall = [\"{SERVICE}\"]\n\n\
         [[identity]]\nname = \"bench-worker\"\nkey = \"{}\"\nserve = [\"{SERVICE}\"]\n",
        client.public.to_z85(),
        worker.public.to_z85()
    );
    std::fs::write(path, text).map_err(|e| BenchError::reqrep(format!("{}: {e}", path.display())))
}

/// Measures every mode `pairs` times, alternating, reporting progress on
/// stderr.
///
/// # Errors
/// When this libzmq has no CURVE (the bundled build), or the keys and files
/// cannot be made. Failed runs are kept in the report, not returned.
pub(crate) fn measure(
    budget: &Budget,
    pairs: u32,
    kind: WorkerKind,
) -> Result<SecurityReport, String> {
    if !reqrep_core::socket::curve_supported() {
        return Err(
            "this libzmq has no CURVE: run with `--config build/system-libzmq.toml`".into(),
        );
    }
    let material = Material::create().map_err(|e| e.to_string())?;
    let scenario = scenario();
    let spec = budget.spec(scenario);
    let labels: Vec<&str> = Mode::ALL.iter().map(|m| m.label()).collect();
    let runs = variants::alternate("security", scenario, pairs, &labels, |i| {
        stack::pipelined_secured(&spec, kind, &material.secured(Mode::ALL[i]))
    });
    let modes = Mode::ALL
        .iter()
        .zip(runs)
        .map(|(&mode, runs)| ModeResult { mode, runs })
        .collect();
    Ok(SecurityReport { scenario, modes })
}
