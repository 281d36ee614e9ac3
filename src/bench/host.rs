//! The machine the bench runs on, read from `/proc` (Linux): the CPU's identity and the flags
//! that change our costs (`/proc/cpuinfo`), and how much of the machine's CPU other processes
//! used during a measuring window (`/proc/stat` minus our own processes' `utime + stime`), so a
//! window that shared the cores with other work is flagged rather than trusted.

use serde_json::{Value, json};

/// A window in which other processes used more than this share of the machine's CPU is
/// flagged in the table and the JSON.
pub(crate) const BUSY_SHARE: f64 = 0.05;

/// The `/proc/cpuinfo` flags that move our figures: SHA-256 of the token cache key (`sha_ni`),
/// the crypto library's vector paths (`avx2`, `avx512f`) and AES.
const FLAGS: [&str; 4] = ["sha_ni", "avx2", "avx512f", "aes"];

/// The CPU, as `/proc/cpuinfo` describes its first processor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cpu {
    /// Processors listed (logical CPUs online).
    pub processors: usize,
    pub vendor: String,
    pub model_name: String,
    pub family: Option<u32>,
    pub model: Option<u32>,
    pub stepping: Option<u32>,
    /// Which of [`FLAGS`] the CPU has, in that order.
    pub flags: Vec<&'static str>,
}

impl Cpu {
    /// This machine's CPU (empty fields where `/proc/cpuinfo` cannot be read).
    pub fn read() -> Self {
        let mut cpu = std::fs::read_to_string("/proc/cpuinfo")
            .map(|text| Self::parse(&text))
            .unwrap_or_default();
        if cpu.model_name.is_empty() {
            std::env::consts::ARCH.clone_into(&mut cpu.model_name);
        }
        if cpu.processors == 0 {
            cpu.processors = std::thread::available_parallelism().map_or(1, usize::from);
        }
        cpu
    }

    /// Parses `/proc/cpuinfo`: the count of `processor` entries, and the first processor's
    /// identity and flags.
    pub fn parse(text: &str) -> Self {
        let mut cpu = Self::default();
        let mut flags = "";
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if key == "processor" {
                cpu.processors += 1;
            }
            // Only the first processor's description (a hybrid CPU's later cores may differ).
            if cpu.processors > 1 {
                continue;
            }
            match key {
                "vendor_id" => value.clone_into(&mut cpu.vendor),
                "model name" => value.clone_into(&mut cpu.model_name),
                "cpu family" => cpu.family = value.parse().ok(),
                "model" => cpu.model = value.parse().ok(),
                "stepping" => cpu.stepping = value.parse().ok(),
                "flags" => flags = value,
                _ => {}
            }
        }
        let present: Vec<&str> = flags.split_whitespace().collect();
        cpu.flags = FLAGS.into_iter().filter(|f| present.contains(f)).collect();
        cpu
    }

    /// One line for the table's header: model, family/model/stepping, flags.
    pub fn summary(&self) -> String {
        let id = |v: Option<u32>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        let mut text = self.model_name.clone();
        if self.family.is_some() || self.model.is_some() {
            text.push_str(&format!(
                ", family {} model {} stepping {}",
                id(self.family),
                id(self.model),
                id(self.stepping)
            ));
        }
        if !self.flags.is_empty() {
            text.push_str(", ");
            text.push_str(&self.flags.join(" "));
        }
        text
    }

    /// The JSON `machine` fields describing the CPU.
    pub fn json(&self) -> Value {
        json!({
            "vendor": self.vendor,
            "model": self.model_name,
            "cpu_family": self.family,
            "cpu_model": self.model,
            "stepping": self.stepping,
            "flags": FLAGS.iter().map(|f| ((*f).to_owned(), json!(self.flags.contains(f)))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// The machine's CPU time so far, in clock ticks (`/proc/stat`'s first line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuTimes {
    /// Every state but `guest`/`guest_nice` (already counted in `user`/`nice`).
    pub total: u64,
    /// `idle + iowait`.
    pub idle: u64,
}

impl CpuTimes {
    /// Parses the aggregate `cpu` line of `/proc/stat`.
    pub fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if ticks.len() < 4 {
            return None;
        }
        Some(Self {
            total: ticks.iter().sum(),
            idle: ticks[3] + ticks.get(4).copied().unwrap_or(0),
        })
    }
}

/// `utime + stime` of a process from its `/proc/<pid>/stat` line, in clock ticks (all
/// threads, those that exited included).
pub(crate) fn process_ticks(stat: &str) -> Option<u64> {
    // The command name is parenthesised and may contain spaces; utime and stime are the 12th
    // and 13th fields after it.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The machine's CPU counters and our processes' at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub machine: CpuTimes,
    /// `utime + stime` of our processes (the server and the bench).
    pub ours: u64,
}

impl Snapshot {
    /// Reads the counters now; `pids` are our processes (a pid that cannot be read counts 0).
    pub fn take(pids: &[u32]) -> Option<Self> {
        let machine = CpuTimes::parse(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let ours = pids
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .filter_map(|stat| process_ticks(&stat))
            .sum();
        Some(Self { machine, ours })
    }

    /// The share of the machine's CPU (all cores) that other processes used between `self`
    /// and `later`: busy ticks of the machine minus ours, over all ticks; `None` when no tick
    /// passed. Tick rounding can make ours exceed the machine's busy time: that reads as 0.
    pub fn other_share(&self, later: &Self) -> Option<f64> {
        let total = later.machine.total.checked_sub(self.machine.total)?;
        let idle = later.machine.idle.checked_sub(self.machine.idle)?;
        let ours = later.ours.saturating_sub(self.ours);
        if total == 0 {
            return None;
        }
        let others = total.saturating_sub(idle).saturating_sub(ours);
        Some(others as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\
        model\t\t: 17\nmodel name\t: AMD EPYC 9R14 96-Core Processor\nstepping\t: 1\n\
        flags\t\t: fpu vme sse2 aes avx avx2 sha_ni avx512f avx512bw\n\n\
        processor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 99\n\
        model name\t: something else\nflags\t\t: fpu\n";

    #[test]
    fn cpuinfo_gives_the_first_processors_identity_and_the_flags_that_matter() {
        let cpu = Cpu::parse(CPUINFO);
        assert_eq!(cpu.processors, 2);
        assert_eq!(cpu.vendor, "AuthenticAMD");
        assert_eq!(cpu.model_name, "AMD EPYC 9R14 96-Core Processor");
        assert_eq!(
            (cpu.family, cpu.model, cpu.stepping),
            (Some(25), Some(17), Some(1))
        );
        assert_eq!(cpu.flags, ["sha_ni", "avx2", "avx512f", "aes"]);
        assert_eq!(
            cpu.summary(),
            "AMD EPYC 9R14 96-Core Processor, family 25 model 17 stepping 1, sha_ni avx2 avx512f aes"
        );
        let json = cpu.json();
        assert_eq!(json["flags"]["avx512f"], true);
        assert_eq!(json["cpu_model"], 17);
    }

    #[test]
    fn a_flag_is_matched_whole_not_as_a_prefix() {
        let cpu = Cpu::parse("processor : 0\nflags : avx512bw aesni sha\n");
        assert!(cpu.flags.is_empty(), "{:?}", cpu.flags);
        assert_eq!(cpu.family, None);
    }

    #[test]
    fn proc_stat_totals_exclude_guest_time_and_count_iowait_as_idle() {
        let stat = "cpu  100 5 50 800 20 1 4 0 30 0\ncpu0 50 2 25 400 10 0 2 0 15 0\n";
        let times = CpuTimes::parse(stat).unwrap();
        assert_eq!(times.total, 980);
        assert_eq!(times.idle, 820);
        assert_eq!(CpuTimes::parse("intr 1 2 3\n"), None);
    }

    #[test]
    fn process_ticks_read_utime_and_stime_past_a_command_name_with_spaces() {
        let stat = "4242 (tokio (x) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 700 55 0 0 20 0 9 0 \
                    123 456 789";
        assert_eq!(process_ticks(stat), Some(755));
    }

    #[test]
    fn other_share_is_the_machines_busy_time_less_ours_over_all_time() {
        let at = |total, idle, ours| Snapshot {
            machine: CpuTimes { total, idle },
            ours,
        };
        // 200 ticks passed (two cores, one second): 40 idle, 160 busy, 130 of them ours.
        let share = at(1_000, 500, 300)
            .other_share(&at(1_200, 540, 430))
            .unwrap();
        assert!((share - 0.15).abs() < 1e-9, "{share}");
        // Ours rounded above the machine's busy ticks: nobody else ran.
        assert_eq!(at(0, 0, 0).other_share(&at(100, 10, 95)), Some(0.0));
        assert_eq!(at(5, 0, 0).other_share(&at(5, 0, 0)), None);
        // Counters that went backwards (another boot?) give nothing.
        assert_eq!(at(5, 0, 0).other_share(&at(4, 0, 0)), None);
    }
}
