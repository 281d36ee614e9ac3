//! The transport floor of a cached `CheckScopes` and `Introspect` (issue #15): the bare tonic
//! no-op ([`super::noop`]) answers each with the real server's answer to the same request, so
//! the bare call's server CPU over the bare health no-op's is what h2, HPACK, prost and the
//! socket alone cost for those bytes, relative to a health check. A target ratio below that
//! floor cannot be met by any handler; the scenario's CPU over the bare call's is what our
//! layers and logic add.

use std::fmt::Write as _;

use bytes::{Buf, Bytes};
use prost::Message;
use serde_json::{Map, Value, json};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder},
};

use super::{
    BenchError,
    repeats::{Repeated, Spread},
    scenario::Conn,
    setup::setup_failed,
    wire::{BytesEncoder, Rpc},
};
use crate::pb;

/// Issue #15's target for a cached CheckScopes or Introspect: server CPU ≤ 1.15× health_check's.
pub(crate) const TARGET: f64 = 1.15;

/// A scenario whose floor is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spec {
    /// scopegate's scenario, whose requests the bare call sends too.
    pub scenario: &'static str,
    /// The bare call's row.
    pub row: &'static str,
    /// The RPC, as the table names it.
    pub rpc: &'static str,
    /// The no-op's option that takes the canned answer.
    pub flag: &'static str,
}

/// The scenarios with a floor, in report order.
pub(crate) const SPECS: [Spec; 2] = [
    Spec {
        scenario: "check_scopes_cached_token",
        row: "bare_check_scopes",
        rpc: "CheckScopes",
        flag: "--check-scopes-answer",
    },
    Spec {
        scenario: "introspect_cached",
        row: "bare_introspect",
        rpc: "Introspect",
        flag: "--introspect-answer",
    },
];

/// One repeat's server CPU per call (µs) in four windows, run in this order: scopegate's
/// `health_check`, the bare health no-op, scopegate's scenario, the bare call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Round {
    pub health: Option<f64>,
    pub noop: Option<f64>,
    pub ours: Option<f64>,
    pub bare: Option<f64>,
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

impl Round {
    /// The floor: bare call ÷ bare health no-op.
    pub fn floor(&self) -> Option<f64> {
        ratio(self.bare?, self.noop?)
    }

    /// The floor of scopegate's own ratio if our layers cost the call what they cost
    /// `health_check` (health_check − no-op) and the handler nothing:
    /// (bare + health_check − no-op) ÷ health_check. Lower than [`Round::floor`] whenever the
    /// bare call costs more than the no-op.
    pub fn floor_with_layers(&self) -> Option<f64> {
        let health = self.health?;
        ratio(self.bare? + health - self.noop?, health)
    }

    /// What our layers and logic add: the scenario on scopegate ÷ the bare call.
    pub fn ours_over_bare(&self) -> Option<f64> {
        ratio(self.ours?, self.bare?)
    }

    /// The target's figure in these windows: the scenario ÷ health_check.
    pub fn ours_over_health(&self) -> Option<f64> {
        ratio(self.ours?, self.health?)
    }
}

/// What the floor says of the target, from the medians.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Both floors exceed the target: no handler can meet it.
    BelowFloor,
    /// The bare floor exceeds it, the floor with our layers' health_check cost does not.
    BelowBareFloorOnly,
    /// The floor leaves room under the target.
    Room,
}

impl Verdict {
    pub fn of(floor: f64, with_layers: Option<f64>, target: f64) -> Self {
        if floor <= target {
            Self::Room
        } else if with_layers.is_some_and(|w| w <= target) {
            Self::BelowBareFloorOnly
        } else {
            Self::BelowFloor
        }
    }

    fn text(self) -> &'static str {
        match self {
            Self::BelowFloor => "is below the measured floor",
            Self::BelowBareFloorOnly => {
                "is below the bare floor, not below the floor with our layers' cost"
            }
            Self::Room => "is above the floor: the floor leaves room",
        }
    }
}

/// One scenario's floor over the repeats.
#[derive(Debug, Clone)]
pub(crate) struct Floor {
    pub spec: Spec,
    /// Each repeat's bare call, against the bare health no-op window of that repeat.
    pub bare: Repeated,
    /// Each repeat's scenario on scopegate (just before the bare call), against that repeat's
    /// `health_check` window.
    pub ours: Repeated,
    pub rounds: Vec<Round>,
    /// Sizes of the request sent (the first of the scenario's) and of the canned answer.
    pub request_bytes: usize,
    pub answer_bytes: usize,
}

impl Floor {
    fn spread(&self, figure: impl Fn(&Round) -> Option<f64>) -> Option<Spread> {
        Spread::of(&self.rounds.iter().filter_map(figure).collect::<Vec<_>>())
    }

    /// The verdict on issue #15's target, from the median floors.
    pub fn verdict(&self) -> Option<Verdict> {
        let floor = self.spread(Round::floor)?.median;
        let with_layers = self.spread(Round::floor_with_layers).map(|s| s.median);
        Some(Verdict::of(floor, with_layers, TARGET))
    }

    /// The table's lines under the rows.
    pub fn lines(&self) -> String {
        let Spec {
            scenario, row, rpc, ..
        } = self.spec;
        let figure = |s: Option<Spread>| {
            s.map_or_else(
                || "- (no server CPU figures)".to_owned(),
                |s| {
                    format!(
                        "{:.2} (min / median / max {:.2} / {:.2} / {:.2})",
                        s.median, s.min, s.median, s.max
                    )
                },
            )
        };
        let mut out = String::new();
        let _ = write!(
            out,
            "floor: bare {rpc} ÷ bare no-op (server CPU per call) {}",
            figure(self.spread(Round::floor))
        );
        match self.verdict() {
            Some(v) => {
                let _ = writeln!(
                    out,
                    ": the target {scenario} ÷ health_check <= {TARGET} {}",
                    v.text()
                );
            }
            None => out.push('\n'),
        }
        let _ = writeln!(
            out,
            "  with our layers' health_check cost on both sides ((bare + health_check − no-op) ÷ health_check): {}; {scenario} ÷ health_check in the same repeats: {}",
            figure(self.spread(Round::floor_with_layers)),
            figure(self.spread(Round::ours_over_health)),
        );
        let _ = writeln!(
            out,
            "{scenario} ÷ {row} (server CPU per call, adjacent windows): {}: what our layers and logic add over the bare transport of the same bytes (request {} B, answer {} B)",
            figure(self.spread(Round::ours_over_bare)),
            self.request_bytes,
            self.answer_bytes,
        );
        out
    }

    /// This floor's entry in the JSON `floors` object.
    pub fn json(&self) -> Value {
        let spread = |f: fn(&Round) -> Option<f64>| {
            self.spread(f).map(|s| {
                let round = |v: f64| (v * 1000.0).round() / 1000.0;
                json!({ "min": round(s.min), "median": round(s.median), "max": round(s.max) })
            })
        };
        let verdict = self.verdict();
        json!({
            "rpc": self.spec.rpc,
            "bare": self.bare.json(),
            "ours": self.ours.json(),
            "request_bytes": self.request_bytes,
            "answer_bytes": self.answer_bytes,
            "floor_server_cpu_ratio": spread(Round::floor),
            "floor_with_layers_server_cpu_ratio": spread(Round::floor_with_layers),
            "ours_over_bare_server_cpu_ratio": spread(Round::ours_over_bare),
            "ours_over_health_server_cpu_ratio": spread(Round::ours_over_health),
            "target_server_cpu_ratio": TARGET,
            "target_below_floor": verdict.map(|v| v != Verdict::Room),
            "target_below_floor_with_layers": verdict.map(|v| v == Verdict::BelowFloor),
        })
    }
}

/// The JSON `floors` object, keyed by scenario; `None` when no floor was measured.
pub(crate) fn json(floors: &[Floor]) -> Option<Value> {
    (!floors.is_empty()).then(|| {
        Value::Object(
            floors
                .iter()
                .map(|f| (f.spec.scenario.to_owned(), f.json()))
                .collect::<Map<_, _>>(),
        )
    })
}

/// The table's note on the bare rows.
pub(crate) fn rows_note(floors: &[Floor]) -> String {
    let rows: Vec<&str> = floors.iter().map(|f| f.spec.row).collect();
    format!(
        "{}: the no-op's canned answer to the scenario's own request bytes (no logic, no layers); their x base and cpu x are against {} of the same repeat\n",
        rows.join(", "),
        super::repeats::NOOP_ROW,
    )
}

/// The real server's answer to the pre-encoded `request` of `rpc`, as the bytes it sent; an
/// error unless it is the allowed (active) answer the scenario expects.
pub(crate) async fn real_answer(
    conn: &Conn,
    rpc: Rpc,
    request: Bytes,
) -> Result<Bytes, BenchError> {
    let mut grpc = conn.grpc();
    let what = rpc.method();
    grpc.ready()
        .await
        .map_err(|e| BenchError::Setup(format!("{what}: not ready: {e}")))?;
    let answer = grpc
        .unary(tonic::Request::new(request), rpc.path(), RawCodec)
        .await
        .map_err(|s| setup_failed(what, &s))?
        .into_inner();
    let expected = match rpc {
        Rpc::CheckScopes { expected } => pb::CheckScopesResponse::decode(answer.clone())
            .is_ok_and(|r| r.results.len() == expected && r.results.iter().all(|c| c.allowed)),
        Rpc::Introspect => pb::IntrospectResponse::decode(answer.clone()).is_ok_and(|r| r.active),
        Rpc::ExtAuthz => false,
    };
    if expected {
        Ok(answer)
    } else {
        Err(BenchError::Setup(format!(
            "{what}: the real server's answer to the floor's request: {}",
            rpc.unexpected()
        )))
    }
}

/// Sends pre-encoded bytes and keeps the answer's bytes as they came.
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Row;

    fn round(health: f64, noop: f64, ours: f64, bare: f64) -> Round {
        Round {
            health: Some(health),
            noop: Some(noop),
            ours: Some(ours),
            bare: Some(bare),
        }
    }

    #[test]
    fn the_floor_is_the_bare_call_over_the_bare_noop_and_with_layers_adds_health_checks_cost() {
        let r = round(12.0, 10.0, 24.0, 18.0);
        assert_eq!(r.floor(), Some(1.8));
        // (18 + 12 − 10) ÷ 12
        assert!((r.floor_with_layers().unwrap() - 20.0 / 12.0).abs() < 1e-12);
        assert!((r.ours_over_bare().unwrap() - 24.0 / 18.0).abs() < 1e-12);
        assert_eq!(r.ours_over_health(), Some(2.0));
        let missing = Round { bare: None, ..r };
        assert_eq!(missing.floor(), None);
        assert_eq!(round(12.0, 0.0, 24.0, 18.0).floor(), None, "no CPU figure");
    }

    #[test]
    fn the_verdict_says_below_the_floor_only_when_the_floor_exceeds_the_target() {
        assert_eq!(Verdict::of(1.8, Some(1.6), 1.15), Verdict::BelowFloor);
        assert_eq!(
            Verdict::of(1.2, Some(1.1), 1.15),
            Verdict::BelowBareFloorOnly
        );
        assert_eq!(Verdict::of(1.15, Some(1.1), 1.15), Verdict::Room);
        assert_eq!(Verdict::of(1.8, None, 1.15), Verdict::BelowFloor);
    }

    fn row(name: &str) -> Row {
        Row {
            name: name.into(),
            concurrency: 64,
            rps: 1000.0,
            p50_us: 100,
            p99_us: 300,
            p999_us: 500,
            errors: 0,
            ratio: 1.0,
            p99_ratio: 1.0,
            server_cpu_us: None,
            cpu_ratio: None,
            stub_cpu_us: None,
            note: String::new(),
            window_s: 3.0,
            window_cut: false,
            other_cpu_share: None,
            baseline_other_cpu_share: None,
        }
    }

    fn floor(rounds: Vec<Round>) -> Floor {
        Floor {
            spec: SPECS[0],
            bare: Repeated {
                rows: vec![row("bare_check_scopes")],
            },
            ours: Repeated {
                rows: vec![row("check_scopes_cached_token")],
            },
            rounds,
            request_bytes: 920,
            answer_bytes: 260,
        }
    }

    #[test]
    fn the_lines_give_the_median_floor_its_spread_and_the_verdict() {
        let f = floor(vec![
            round(12.0, 10.0, 24.0, 18.0),
            round(12.0, 10.0, 24.0, 16.0),
            round(12.0, 10.0, 24.0, 20.0),
        ]);

        let lines = f.lines();

        assert!(
            lines.starts_with(
                "floor: bare CheckScopes ÷ bare no-op (server CPU per call) 1.80 (min / median / max 1.60 / 1.80 / 2.00): the target check_scopes_cached_token ÷ health_check <= 1.15 is below the measured floor\n"
            ),
            "{lines}"
        );
        assert!(
            lines.contains("check_scopes_cached_token ÷ bare_check_scopes (server CPU per call, adjacent windows): 1.33 (min / median / max 1.20 / 1.33 / 1.50)"),
            "{lines}"
        );
        assert!(lines.contains("(request 920 B, answer 260 B)"), "{lines}");
        let doc = f.json();
        assert_eq!(doc["floor_server_cpu_ratio"]["median"], 1.8);
        assert_eq!(doc["target_below_floor"], true);
        assert_eq!(doc["target_below_floor_with_layers"], true);
        assert_eq!(doc["bare"]["name"], "bare_check_scopes");
        assert_eq!(
            json(&[f]).unwrap()["check_scopes_cached_token"]["rpc"],
            "CheckScopes"
        );
        assert_eq!(json(&[]), None);
    }

    #[test]
    fn without_server_cpu_figures_the_lines_say_so_and_give_no_verdict() {
        let f = floor(vec![Round::default()]);
        assert_eq!(f.verdict(), None);
        assert!(
            f.lines().contains("- (no server CPU figures)"),
            "{}",
            f.lines()
        );
        assert_eq!(f.json()["target_below_floor"], Value::Null);
    }
}
