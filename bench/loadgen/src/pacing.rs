//! The timing knobs the coordinator and its workers share: one definition, bounded once, and
//! handed to each worker as the same flags.

use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct Pacing {
    /// Seconds the connect phase may take.
    #[arg(long, default_value_t = 60)]
    pub connect_timeout_s: u64,
    /// Milliseconds a worker waits for late events after the last publish.
    #[arg(long, default_value_t = 5000)]
    pub grace_ms: u64,
    /// Connection attempts in flight per worker.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Workers read in batches this many µs apart while events flow (0: at once).
    #[arg(long, default_value_t = 0)]
    pub batch_us: u64,
}

impl Pacing {
    /// The same knobs within their bounds, so no flag can make a loop unbounded.
    pub fn bounded(&self) -> Self {
        Self {
            connect_timeout_s: self.connect_timeout_s.clamp(1, 600),
            grace_ms: self.grace_ms.min(60_000),
            in_flight: self.in_flight.clamp(1, 4096),
            batch_us: self.batch_us.min(100_000),
        }
    }

    pub fn connect_phase(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_s)
    }

    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }

    pub fn batch(&self) -> Duration {
        Duration::from_micros(self.batch_us)
    }

    /// The flags that reproduce these knobs in a worker.
    pub fn to_args(&self) -> [String; 8] {
        [
            "--connect-timeout-s".into(),
            self.connect_timeout_s.to_string(),
            "--grace-ms".into(),
            self.grace_ms.to_string(),
            "--in-flight".into(),
            self.in_flight.to_string(),
            "--batch-us".into(),
            self.batch_us.to_string(),
        ]
    }
}
