//! The circuit breaker of each vendor endpoint: after a few failed attempts in a row, an
//! endpoint gets no attempts for a while (its messages wait, their attempts unspent), then one
//! probe at a time until an attempt succeeds. One dead or slow endpoint so takes a few of the
//! worker's places, never all of them, and the others' messages go out on time.

use std::time::Duration;

use serde::Serialize;

use crate::store::EndpointCircuit;
use crate::time::Timestamp;

/// Failed attempts in a row that open the circuit.
pub const OPEN_AFTER_FAILURES: i64 = 5;
/// Attempts one process makes to one endpoint at once while its circuit is closed.
pub const PER_ENDPOINT_IN_FLIGHT: u32 = 8;
/// The first pause, in units of the retry base (30 s in production); each failed probe doubles
/// it up to `MAX_PAUSE_UNITS` (1 h).
const FIRST_PAUSE_UNITS: u32 = 30;
const MAX_PAUSE_UNITS: u32 = 3600;

/// Where an endpoint's circuit stands, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Attempts go out as they fall due.
    Closed,
    /// No attempts until `open_until`; the endpoint's messages wait.
    Open,
    /// One probe at a time; its success closes the circuit, its failure opens it again.
    HalfOpen,
}

pub(crate) fn state(circuit: &EndpointCircuit, now: Timestamp) -> CircuitState {
    match circuit.open_until {
        Some(until) if until > now => CircuitState::Open,
        _ if circuit.failures_in_a_row >= OPEN_AFTER_FAILURES => CircuitState::HalfOpen,
        _ => CircuitState::Closed,
    }
}

/// How many more attempts this process may start for the endpoint now, with `in_flight` of
/// its attempts under way.
pub(crate) fn room(circuit: &EndpointCircuit, now: Timestamp, in_flight: u32) -> u32 {
    let cap = match state(circuit, now) {
        CircuitState::Closed => PER_ENDPOINT_IN_FLIGHT,
        CircuitState::HalfOpen => 1,
        CircuitState::Open => 0,
    };
    cap.saturating_sub(in_flight)
}

/// After the `failures_in_a_row`-th failure in a row: how long the circuit stays open, if it
/// opens.
pub(crate) fn pause_after(failures_in_a_row: i64, retry_base: Duration) -> Option<Duration> {
    if failures_in_a_row < OPEN_AFTER_FAILURES {
        return None;
    }
    let beyond = failures_in_a_row - OPEN_AFTER_FAILURES;
    let doublings = u32::try_from(beyond).unwrap_or(u32::MAX).min(16);
    let units = FIRST_PAUSE_UNITS
        .saturating_mul(1 << doublings)
        .min(MAX_PAUSE_UNITS);
    Some(retry_base.saturating_mul(units))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circuit(failures: i64, open_until: Option<i64>) -> EndpointCircuit {
        EndpointCircuit {
            failures_in_a_row: failures,
            open_until: open_until.map(Timestamp::from_millis),
        }
    }

    #[test]
    fn the_circuit_opens_after_five_failures_then_lets_one_probe_through() {
        let now = Timestamp::from_millis(1_000);
        assert_eq!(state(&circuit(4, None), now), CircuitState::Closed);
        assert_eq!(room(&circuit(4, None), now, 3), PER_ENDPOINT_IN_FLIGHT - 3);
        assert_eq!(state(&circuit(5, Some(2_000)), now), CircuitState::Open);
        assert_eq!(room(&circuit(5, Some(2_000)), now, 0), 0);
        assert_eq!(state(&circuit(5, Some(1_000)), now), CircuitState::HalfOpen);
        assert_eq!(room(&circuit(5, Some(900)), now, 0), 1);
        assert_eq!(
            room(&circuit(6, Some(900)), now, 1),
            0,
            "one probe at a time"
        );
    }

    #[test]
    fn pauses_double_from_thirty_units_up_to_an_hour() {
        let s = Duration::from_secs(1);
        assert_eq!(pause_after(4, s), None);
        let pauses: Vec<u64> = (5..=13)
            .map(|n| pause_after(n, s).unwrap().as_secs())
            .collect();
        assert_eq!(pauses, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(pause_after(i64::MAX, s), Some(Duration::from_secs(3600)));
    }
}
