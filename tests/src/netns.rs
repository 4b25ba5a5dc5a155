//! Network-namespace topologies for the NAT tests: customer hosts on a private LAN behind a NAT
//! namespace that masquerades with random source ports (RFC 4787 §4.1 "address and port-dependent"
//! mapping is the hard case for SIP), the SBC's namespace and a core namespace, joined by veth
//! pairs. Nothing here touches the host's own interfaces or routes: every link, address and rule
//! lives inside the namespaces a [`Topology`] creates, and dropping it deletes them.
//!
//! ```text
//!  customer-i (10.77.1.10+i) ── br-lan 10.77.1.1 [nat] wan 198.18.0.2 ── cust 198.18.0.1 [sbc]
//!                                                                        core 198.18.1.1 [sbc] ── 198.18.1.2 [core]
//! ```
//!
//! The SBC's namespace has routes only for its two /24s, so the customers' private subnet is
//! unreachable from it: only traffic the NAT has translated can get back to a customer.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sched::CloneFlags;
use thiserror::Error;

use crate::ChildGuard;

/// Prefix of every namespace this module creates (the sweep deletes only these).
pub const PREFIX: &str = "sbcnat-";

/// The customers' private LAN (never routable from the SBC's namespace).
pub const CUSTOMER_LAN: &str = "10.77.1.0/24";
/// The NAT's address on the customer LAN, the customers' default gateway.
pub const NAT_LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
/// The NAT's outside address (RFC 2544 benchmarking range), the source of all translated traffic.
pub const NAT_WAN_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The SBC's address on the NAT-facing subnet (its customer interface).
pub const SBC_CUSTOMER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The SBC's address on the core subnet (its core interface).
pub const SBC_CORE_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
/// The core host's address (registrar / UAS side).
pub const CORE_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);

/// The source ports the NAT picks from, at random for each new mapping: disjoint from the
/// customers' ephemeral ports (Linux default 32768–60999), so a translated port never equals the
/// private one by chance.
pub const NAT_PORTS: std::ops::RangeInclusive<u16> = 1024..=32767;

/// The most customer hosts one topology builds (addresses 10.77.1.10 and up).
pub const MAX_CUSTOMERS: usize = 100;

/// The private address of customer host `i` (0-based).
pub fn customer_ip(i: usize) -> Ipv4Addr {
    let last = u8::try_from(10 + i.min(MAX_CUSTOMERS)).unwrap_or(u8::MAX);
    Ipv4Addr::new(10, 77, 1, last)
}

/// Why a topology could not be built or a command in it failed.
#[derive(Debug, Error)]
pub enum NetnsError {
    /// The tests are not running as root (namespaces and nftables need CAP_NET_ADMIN).
    #[error("network namespaces need root (effective uid is {0}); run the NAT tests as root")]
    NotRoot(u32),
    /// A required program is not installed.
    #[error("`{program}` not found on PATH, /usr/sbin or /sbin: install the Debian package `{package}` (see .ci/deps)")]
    Missing {
        /// The program looked for.
        program: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A command ran but failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it wrote on stderr.
        stderr: String,
    },
    /// Starting a command or opening a namespace failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Too many customers were asked for.
    #[error("at most {MAX_CUSTOMERS} customer hosts per topology, asked for {0}")]
    TooManyCustomers(usize),
}

/// The programs the topology needs, with the tools' absolute paths.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `ip` (iproute2).
    pub ip: PathBuf,
    /// `nft` (nftables).
    pub nft: PathBuf,
    /// `conntrack` (conntrack-tools).
    pub conntrack: PathBuf,
}

/// `program` on PATH or in the sbin directories root normally has.
fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The effective uid from /proc/self/status.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Checks that namespaces can be built here: root, `ip`, `nft` and `conntrack` present.
pub fn prerequisites() -> Result<Tools, NetnsError> {
    let uid = effective_uid().unwrap_or(u32::MAX);
    if uid != 0 {
        return Err(NetnsError::NotRoot(uid));
    }
    let need = |program: &'static str, package: &'static str| {
        find_program(program).ok_or(NetnsError::Missing { program, package })
    };
    Ok(Tools {
        ip: need("ip", "iproute2")?,
        nft: need("nft", "nftables")?,
        conntrack: need("conntrack", "conntrack")?,
    })
}

/// Builds a topology with `customers` hosts, or says loudly why not: under CI (the `CI`
/// environment variable set) that is a test failure, elsewhere the caller skips the test.
pub fn topology_or_skip(test: &str, customers: usize) -> Option<Topology> {
    match Topology::build(customers) {
        Ok(t) => Some(t),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: cannot build the NAT test network (CI is set, so this fails): {e}")
        }
        Err(e) => {
            eprintln!(
                "\n*** {test}: SKIPPED, cannot build the NAT test network: {e}\n\
                 *** (with CI set this is a failure; .ci/run runs it as root after .ci/deps)\n"
            );
            None
        }
    }
}

/// Namespaces built by this process so far (makes names unique within the run).
static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// A set of namespaces wired as in the module docs, deleted when dropped.
#[derive(Debug)]
pub struct Topology {
    tools: Tools,
    customers: Vec<String>,
    nat: String,
    sbc: String,
    core: String,
    /// Every namespace created so far, for cleanup.
    created: Vec<String>,
}

/// Deletes namespaces left by earlier runs whose process is gone (a crashed or killed test),
/// after killing what still runs inside them.
pub fn sweep_stale(ip: &Path) {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            // Processes the dead run left inside (an `sbc` whose test was killed) would keep
            // the namespace alive after it is unnamed; stop them by pid first.
            let pids = Command::new(ip)
                .args(["netns", "pids", &name])
                .stderr(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for orphan in pids.split_whitespace().filter(|p| p.parse::<u32>().is_ok()) {
                let _ = Command::new("kill")
                    .args(["-KILL", orphan])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = Command::new(ip)
                .args(["netns", "delete", &name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Topology {
    /// Creates the namespaces, links, addresses, routes and NAT rules for `customers` hosts.
    pub fn build(customers: usize) -> Result<Self, NetnsError> {
        if customers > MAX_CUSTOMERS {
            return Err(NetnsError::TooManyCustomers(customers));
        }
        let tools = prerequisites()?;
        // Once per process: every build after the first returns only once it is done.
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(|| sweep_stale(&tools.ip));
        let run = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        );
        let mut topo = Self {
            tools,
            customers: (0..customers).map(|i| format!("{run}-cust{i}")).collect(),
            nat: format!("{run}-nat"),
            sbc: format!("{run}-sbc"),
            core: format!("{run}-core"),
            created: Vec::new(),
        };
        // On error `topo` is dropped here, deleting whatever was created.
        topo.wire()?;
        Ok(topo)
    }

    /// The namespace of customer host `i`.
    pub fn customer(&self, i: usize) -> &str {
        &self.customers[i]
    }

    /// The NAT's namespace.
    pub fn nat(&self) -> &str {
        &self.nat
    }

    /// The SBC's namespace.
    pub fn sbc(&self) -> &str {
        &self.sbc
    }

    /// The core's namespace.
    pub fn core(&self) -> &str {
        &self.core
    }

    /// The tools found by [`prerequisites`].
    pub fn tools(&self) -> &Tools {
        &self.tools
    }

    fn wire(&mut self) -> Result<(), NetnsError> {
        let all: Vec<String> = self
            .customers
            .iter()
            .chain([&self.nat, &self.sbc, &self.core])
            .cloned()
            .collect();
        for ns in &all {
            self.ip(&["netns", "add", ns])?;
            self.created.push(ns.clone());
            self.ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let (nat, sbc, core) = (self.nat.clone(), self.sbc.clone(), self.core.clone());

        // The customer LAN: a bridge in the NAT namespace, one veth per customer host.
        self.ip(&["-n", &nat, "link", "add", "br-lan", "type", "bridge"])?;
        self.addr_up(&nat, "br-lan", &format!("{NAT_LAN_IP}/24"))?;
        for (i, cust) in self.customers.clone().iter().enumerate() {
            let port = format!("lan{i}");
            self.veth(cust, "eth0", &nat, &port)?;
            self.ip(&["-n", &nat, "link", "set", &port, "master", "br-lan", "up"])?;
            self.addr_up(cust, "eth0", &format!("{}/24", customer_ip(i)))?;
            self.ip(&[
                "-n",
                cust,
                "route",
                "add",
                "default",
                "via",
                &NAT_LAN_IP.to_string(),
            ])?;
        }

        // NAT outside ⇄ SBC customer side, SBC core side ⇄ core host. No default routes
        // anywhere but on the customers (towards the NAT).
        self.veth(&nat, "wan", &sbc, "cust")?;
        self.addr_up(&nat, "wan", &format!("{NAT_WAN_IP}/24"))?;
        self.addr_up(&sbc, "cust", &format!("{SBC_CUSTOMER_IP}/24"))?;
        self.veth(&sbc, "core", &core, "eth0")?;
        self.addr_up(&sbc, "core", &format!("{SBC_CORE_IP}/24"))?;
        self.addr_up(&core, "eth0", &format!("{CORE_IP}/24"))?;

        // The NAT: forwarding on, masquerade with random source ports, and like a home router
        // it forwards from outside to inside only what belongs to a tracked flow.
        self.exec_ok(
            &nat,
            "sh",
            &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
        )?;
        let rules = format!(
            "table ip sbcnat {{\n\
             \tchain postrouting {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\toifname \"wan\" ip saddr {CUSTOMER_LAN} meta l4proto {{ tcp, udp }} \
             masquerade to :{nat_lo}-{nat_hi} fully-random\n\
             \t\toifname \"wan\" ip saddr {CUSTOMER_LAN} masquerade fully-random\n\
             \t}}\n\
             \tchain forward {{\n\
             \t\ttype filter hook forward priority filter; policy drop;\n\
             \t\tct state established,related accept\n\
             \t\tiifname \"br-lan\" oifname \"wan\" accept\n\
             \t}}\n\
             }}\n",
            nat_lo = NAT_PORTS.start(),
            nat_hi = NAT_PORTS.end(),
        );
        let nft = self.tools.nft.clone();
        let mut child = self
            .command(&nat, &nft)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| NetnsError::Io {
                what: "spawn nft".into(),
                source,
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            stdin
                .write_all(rules.as_bytes())
                .map_err(|source| NetnsError::Io {
                    what: "write nft rules".into(),
                    source,
                })?;
        }
        let out = child.wait_with_output().map_err(|source| NetnsError::Io {
            what: "wait for nft".into(),
            source,
        })?;
        check("nft -f - (NAT rules)", &out)?;
        Ok(())
    }

    fn ip(&self, args: &[&str]) -> Result<(), NetnsError> {
        let out = Command::new(&self.tools.ip)
            .args(args)
            .output()
            .map_err(|source| NetnsError::Io {
                what: "run ip".into(),
                source,
            })?;
        check(&format!("ip {}", args.join(" ")), &out)
    }

    /// A veth pair created directly inside two namespaces (the host never sees either end).
    fn veth(&self, ns_a: &str, a: &str, ns_b: &str, b: &str) -> Result<(), NetnsError> {
        self.ip(&[
            "-n", ns_a, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns_b,
        ])
    }

    fn addr_up(&self, ns: &str, dev: &str, cidr: &str) -> Result<(), NetnsError> {
        self.ip(&["-n", ns, "addr", "add", cidr, "dev", dev])?;
        self.ip(&["-n", ns, "link", "set", dev, "up"])
    }

    /// A command that runs `program` inside namespace `ns` (`ip netns exec`).
    pub fn command(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(&self.tools.ip);
        cmd.args(["netns", "exec", ns]).arg(program);
        cmd
    }

    /// Runs `program args` inside `ns` and returns its stdout, or the failure with its stderr.
    pub fn exec_ok(&self, ns: &str, program: &str, args: &[&str]) -> Result<String, NetnsError> {
        let out = self
            .command(ns, program)
            .args(args)
            .output()
            .map_err(|source| NetnsError::Io {
                what: format!("run {program} in {ns}"),
                source,
            })?;
        check(
            &format!("ip netns exec {ns} {program} {}", args.join(" ")),
            &out,
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts a long-running child inside `ns`, killed when the guard drops.
    pub fn spawn(&self, ns: &str, program: &str, args: &[&str]) -> Result<ChildGuard, NetnsError> {
        let child: Child = self
            .command(ns, program)
            .args(args)
            .spawn()
            .map_err(|source| NetnsError::Io {
                what: format!("spawn {program} in {ns}"),
                source,
            })?;
        Ok(ChildGuard(child))
    }

    /// Empties the NAT's connection-tracking table: every mapping is forgotten, as when a home
    /// router reboots or times a UDP binding out (RFC 4787 §4.3).
    pub fn flush_nat_conntrack(&self) -> Result<(), NetnsError> {
        let conntrack = self.tools.conntrack.to_string_lossy().into_owned();
        self.exec_ok(&self.nat, &conntrack, &["-F"]).map(drop)
    }

    /// Sets how long the NAT keeps an idle UDP mapping, one-way and two-way alike (the
    /// namespace's own `nf_conntrack_udp_timeout` and `_stream`), so that a mapping with no
    /// traffic times out within `seconds` as a home router's would (RFC 4787 §4.3).
    pub fn set_nat_udp_timeout(&self, seconds: u32) -> Result<(), NetnsError> {
        for key in [
            "net.netfilter.nf_conntrack_udp_timeout",
            "net.netfilter.nf_conntrack_udp_timeout_stream",
        ] {
            self.exec_ok(&self.nat, "sysctl", &["-w", &format!("{key}={seconds}")])?;
        }
        Ok(())
    }

    /// The NAT's current UDP mappings as `conntrack -L` prints them (for failure messages).
    pub fn nat_mappings(&self) -> String {
        let conntrack = self.tools.conntrack.to_string_lossy().into_owned();
        self.exec_ok(&self.nat, &conntrack, &["-L", "-p", "udp"])
            .unwrap_or_else(|e| e.to_string())
    }

    /// Runs `f` on a thread that has joined namespace `ns`: sockets it creates stay in `ns` for
    /// their whole life, whichever thread uses them afterwards.
    pub fn enter<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> T {
        let handle = File::open(Path::new("/run/netns").join(ns))
            .unwrap_or_else(|e| panic!("open namespace {ns}: {e}"));
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(&handle, CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns into {ns}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

fn check(command: &str, out: &Output) -> Result<(), NetnsError> {
    if out.status.success() {
        return Ok(());
    }
    Err(NetnsError::Command {
        command: command.to_owned(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Deleting a namespace destroys its veth ends (and so their peers) and its nftables.
        for ns in self.created.drain(..).rev() {
            let _ = Command::new(&self.tools.ip)
                .args(["netns", "delete", &ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}
