//! The report: each figure next to its limit, the ratio, the target, PASS or FAIL; printed as
//! a table and written as JSON.

use serde::Serialize;

/// One row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured.
    pub figure: String,
    /// The figure.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// What it is compared to.
    pub limit_name: String,
    /// The limit's value (same unit), if measured.
    pub limit: Option<f64>,
    /// value / limit (or value alone for absolute targets).
    pub ratio: Option<f64>,
    /// The target, in words (`≥ 50 %`, `< 40 MiB`, or `—`).
    pub target: String,
    /// `PASS`, `FAIL` or `INFO` (no target) or `SKIP` (limit unavailable).
    pub verdict: String,
    /// Latencies and other details.
    pub detail: String,
    /// CPU milliseconds per request of the figure (server, PostgreSQL, harness), when
    /// measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<crate::load::CpuPerOp>,
    /// The same for its limit, when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_cpu_ms: Option<crate::load::CpuPerOp>,
}

impl Row {
    /// With the CPU per request of the figure and of its limit.
    pub fn with_cpu(
        mut self,
        cpu: Option<crate::load::CpuPerOp>,
        limit: Option<crate::load::CpuPerOp>,
    ) -> Row {
        self.cpu_ms = cpu;
        self.limit_cpu_ms = limit;
        self
    }

    /// A figure compared to a limit, passing when the ratio is at least `min_ratio`.
    pub fn ratio(
        figure: impl Into<String>,
        value: f64,
        unit: &str,
        limit_name: impl Into<String>,
        limit: Option<f64>,
        min_ratio: Option<f64>,
        detail: impl Into<String>,
    ) -> Row {
        let ratio = limit.filter(|l| *l > 0.0).map(|l| value / l);
        let (target, verdict) = match (min_ratio, ratio) {
            (Some(m), Some(r)) => (
                format!("≥ {:.0} %", m * 100.0),
                if r >= m { "PASS" } else { "FAIL" },
            ),
            (Some(m), None) => (format!("≥ {:.0} %", m * 100.0), "SKIP"),
            (None, _) => ("—".to_owned(), "INFO"),
        };
        Row {
            figure: figure.into(),
            value,
            unit: unit.to_owned(),
            limit_name: limit_name.into(),
            limit,
            ratio,
            target,
            verdict: verdict.to_owned(),
            detail: detail.into(),
            cpu_ms: None,
            limit_cpu_ms: None,
        }
    }

    /// An absolute figure that must stay below `max`.
    pub fn below(
        figure: impl Into<String>,
        value: f64,
        unit: &str,
        max: f64,
        detail: impl Into<String>,
    ) -> Row {
        Row {
            figure: figure.into(),
            value,
            unit: unit.to_owned(),
            limit_name: format!("{max} {unit}"),
            limit: Some(max),
            ratio: Some(value / max),
            target: format!("< {max} {unit}"),
            verdict: if value < max { "PASS" } else { "FAIL" }.to_owned(),
            detail: detail.into(),
            cpu_ms: None,
            limit_cpu_ms: None,
        }
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The table, as Markdown (readable in a terminal, pasted as is into docs/PERFORMANCE.md).
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| figure | value | limit | limit value | ratio | target | verdict | detail |\n|---|---:|---|---:|---:|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} {} | {} | {} | {} | {} | {} | {} |\n",
            r.figure,
            num(r.value),
            r.unit,
            r.limit_name,
            r.limit.map(num).unwrap_or_else(|| "n/a".into()),
            r.ratio
                .map(|x| format!("{:.0} %", x * 100.0))
                .unwrap_or_else(|| "n/a".into()),
            r.target,
            r.verdict,
            r.detail
        ));
    }
    s
}
