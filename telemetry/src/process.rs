//! Process RSS and CPU, read from `/proc/self` at each scrape (Linux; elsewhere nothing is
//! reported rather than a wrong value).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// `chainx_process_resident_memory_bytes` and `chainx_process_cpu_seconds_total`.
#[derive(Debug, Default)]
pub struct ProcessMetrics;

/// Clock ticks per second of `/proc/<pid>/stat`'s times: USER_HZ, fixed at 100 in the Linux
/// ABI on every architecture chainx builds for (it is not the kernel's CONFIG_HZ).
const USER_HZ: f64 = 100.0;

impl ProcessMetrics {
    pub fn register(registry: &mut Registry) {
        registry.register_collector(Box::new(ProcessMetrics));
    }

    /// Resident set size in bytes (`VmRSS` of `/proc/self/status`).
    pub fn rss_bytes() -> Option<u64> {
        Self::status_kb("VmRSS:").map(|kb| kb * 1024)
    }

    /// The peak resident set size so far, in bytes (`VmHWM`).
    pub fn peak_rss_bytes() -> Option<u64> {
        Self::status_kb("VmHWM:").map(|kb| kb * 1024)
    }

    fn status_kb(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// User plus system CPU time in seconds (`utime` + `stime` of `/proc/self/stat`).
    pub fn cpu_seconds() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) may hold spaces and parentheses: count from its end.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace();
        // After `)`: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
        let utime: u64 = fields.nth(11)?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some((utime + stime) as f64 / USER_HZ)
    }
}

impl Collector for ProcessMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(rss) = Self::rss_bytes() {
            let g = ConstGauge::new(rss as i64);
            let m = encoder.encode_descriptor(
                "chainx_process_resident_memory_bytes",
                "Resident memory of the job's process",
                None,
                g.metric_type(),
            )?;
            g.encode(m)?;
        }
        if let Some(cpu) = Self::cpu_seconds() {
            let c = ConstCounter::new(cpu);
            let m = encoder.encode_descriptor(
                "chainx_process_cpu_seconds",
                "User and system CPU time the job's process has used",
                None,
                c.metric_type(),
            )?;
            c.encode(m)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_and_cpu_are_read_and_grow_with_work() {
        let rss = ProcessMetrics::rss_bytes().unwrap();
        let held = vec![1u8; 64 << 20];
        let grown = ProcessMetrics::rss_bytes().unwrap();
        assert!(grown >= rss + (60 << 20), "{rss} -> {grown} after touching 64 MiB");
        drop(held);
        let before = ProcessMetrics::cpu_seconds().unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        // Spin on work (not a sleep) until the clock has surely ticked: 0.3 s of CPU.
        while start.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = ProcessMetrics::cpu_seconds().unwrap();
        assert!(after - before >= 0.2, "{before} -> {after} after 0.3 s of spinning");
    }

    #[test]
    fn the_text_exposition_names_both() {
        let mut r = Registry::default();
        ProcessMetrics::register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(text.contains("chainx_process_resident_memory_bytes "), "{text}");
        assert!(text.contains("chainx_process_cpu_seconds_total "), "{text}");
    }
}
