//! `ThreadCpu`: a criterion measurement of the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`, through the `cpu-time` crate), for benches on a shared
//! machine, where wall time counts the other processes' turns too. Included by the benches
//! that use it with `#[path]`; it measures nothing of its own.

use cpu_time::ThreadTime;
use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};

/// Criterion measurement: CPU time of the benchmark thread, in nanoseconds.
pub struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = ThreadTime;
    type Value = u64;
    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }
    fn end(&self, start: ThreadTime) -> u64 {
        start.elapsed().as_nanos() as u64
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
        let (divisor, unit) = if typical_ns < 1e3 {
            (1.0, "ns cpu")
        } else if typical_ns < 1e6 {
            (1e3, "µs cpu")
        } else {
            (1e6, "ms cpu")
        };
        values.iter_mut().for_each(|v| *v /= divisor);
        unit
    }
    fn scale_throughputs(&self, _: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        match t {
            // ns of CPU per iteration -> MB per CPU-second.
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                let bytes = *n as f64;
                values.iter_mut().for_each(|v| *v = bytes * 1e3 / *v);
                "MB/cpu-s"
            }
            _ => {
                values.iter_mut().for_each(|v| *v = 1e9 / *v);
                "per cpu-second"
            }
        }
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns cpu"
    }
}
