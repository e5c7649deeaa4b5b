//! Prometheus metrics: process CPU and memory (from /proc), HTTP request counts and
//! latencies, and the application's own gauges. One registry per server.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by method, matched route and status.
    pub http_requests: IntCounterVec,
    /// Request latency by method and matched route.
    pub http_latency: HistogramVec,
    /// Failed logins by reason (bad_credentials, locked).
    pub login_failures: IntCounterVec,
    /// Keys tracked by the login throttle.
    pub throttle_keys: IntGauge,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("register process collector");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(crate::cpu_metric::CpuSeconds::new()))
            .expect("register precise CPU collector");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("metric");
        let http_latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            ),
            &["method", "route"],
        )
        .expect("metric");
        let login_failures = IntCounterVec::new(
            Opts::new("login_failures_total", "Refused logins by reason"),
            &["reason"],
        )
        .expect("metric");
        let throttle_keys = IntGauge::new(
            "login_throttle_keys",
            "Accounts/addresses with recent failed logins",
        )
        .expect("metric");
        for m in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(login_failures.clone()),
            Box::new(throttle_keys.clone()),
        ] {
            registry.register(m).expect("unique metric names");
        }
        Self {
            registry,
            http_requests,
            http_latency,
            login_failures,
            throttle_keys,
        }
    }

    /// The registry, for crates that add their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
