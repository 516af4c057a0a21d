//! Lateness summaries: how long after its due time each job ran, as p50/p99/max in milliseconds.

use serde_json::{Value, json};

/// Summarises lateness samples given in microseconds (negative = early).
pub fn summary(mut micros: Vec<i64>) -> Value {
    if micros.is_empty() {
        return json!({ "count": 0 });
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let idx = ((micros.len() as f64 - 1.0) * q).round() as usize;
        micros[idx.min(micros.len() - 1)] as f64 / 1000.0
    };
    json!({
        "count": micros.len(),
        "min_ms": at(0.0),
        "p50_ms": at(0.5),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "p999_ms": at(0.999),
        "max_ms": at(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_summary_reports_percentiles_in_milliseconds() {
        let s = summary((1..=1000).map(|i| i * 1000).collect());
        assert_eq!(s["count"], 1000);
        assert_eq!(s["max_ms"], 1000.0);
        assert_eq!(s["min_ms"], 1.0);
        assert_eq!(s["p50_ms"], 501.0);
        assert_eq!(s["p99_ms"], 990.0);
    }
}
