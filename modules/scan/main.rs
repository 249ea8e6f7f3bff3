// scan: a TCP connect scan through agent-ctl's net_probe host function. The supervisor
// makes the connections, and only to the hosts and ports the operator granted; every
// other probe comes back "denied" and is reported as such. See README.md.
//
// Built with Debian's rustc for wasm32-wasi, std only, with the Rust SDK: see Makefile.
#[path = "../sdk/rust/agentctl.rs"]
mod agentctl;

use agentctl::{Args, Json, ProbeState};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The most addresses one scan covers: an IPv4 /20, an IPv6 /116.
const MAX_ADDRESSES: u32 = 4096;
/// The most probes (addresses × ports) one scan makes: net_probe's per-call limit.
const MAX_PROBES: usize = agentctl::MAX_PROBES;
/// Probes per net_probe call. The host's timeout bounds a whole net_probe call, and it
/// runs 256 probes at a time: a batch of 256 gives each probe the full timeout, so
/// "filtered" means no answer in that time, never "not tried before the call's end".
const BATCH: usize = 256;
const DEFAULT_TIMEOUT_MS: i64 = 1000;
const MAX_TIMEOUT_MS: i64 = 30000;

/// The addresses to scan: a network and its prefix length.
#[derive(Debug, PartialEq, Clone, Copy)]
enum Network {
    V4(u32, u32),
    V6(u128, u32),
}

impl Network {
    fn count(self) -> u32 {
        match self {
            Network::V4(_, p) => 1 << (32 - p),
            Network::V6(_, p) => 1 << (128 - p),
        }
    }

    fn host(self, i: u32) -> String {
        match self {
            Network::V4(n, _) => Ipv4Addr::from(n + i).to_string(),
            Network::V6(n, _) => Ipv6Addr::from(n + i as u128).to_string(),
        }
    }

    fn cidr(self) -> String {
        match self {
            Network::V4(n, p) => format!("{}/{}", Ipv4Addr::from(n), p),
            Network::V6(n, p) => format!("{}/{}", Ipv6Addr::from(n), p),
        }
    }
}

/// Parses an address or CIDR; host bits are cleared (10.0.0.7/24 is 10.0.0.0/24).
fn parse_network(s: &str) -> Result<Network, String> {
    let bad = || format!("--ip {:?}: want an IPv4 or IPv6 address or CIDR, e.g. 10.0.0.0/24", s);
    let (addr, prefix) = match s.find('/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let prefix_of = |bits: u32| -> Result<u32, String> {
        match prefix {
            None => Ok(bits),
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                let n: u32 = p.parse().map_err(|_| bad())?;
                if n > bits {
                    Err(bad())
                } else {
                    Ok(n)
                }
            }
            Some(_) => Err(bad()),
        }
    };
    // Both families are checked and masked alike, IPv4 in the low 32 bits.
    let (bits, a) = if let Ok(a) = addr.parse::<Ipv4Addr>() {
        (32, u128::from(u32::from(a)))
    } else if let Ok(a) = addr.parse::<Ipv6Addr>() {
        (128, u128::from(a))
    } else {
        return Err(bad());
    };
    let p = prefix_of(bits)?;
    // At most MAX_ADDRESSES = 2^max_bits addresses: a /20 of IPv4, a /116 of IPv6.
    let max_bits = MAX_ADDRESSES.trailing_zeros();
    if bits - p > max_bits {
        return Err(format!(
            "--ip {}: {} addresses, more than the {} one scan may cover (at most a /{})",
            s,
            if bits - p >= 64 { format!("2^{}", bits - p) } else { (1u128 << (bits - p)).to_string() },
            MAX_ADDRESSES,
            bits - max_bits
        ));
    }
    let n = a & !((1u128 << (bits - p)) - 1);
    Ok(if bits == 32 { Network::V4(n as u32, p) } else { Network::V6(n, p) })
}

/// Parses "22,80,443,8000-8100": ports and inclusive ranges, 1 to 65535. The result is
/// sorted, without duplicates.
fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    let bad = || format!("--ports {:?}: want ports and ranges such as 22,80,443,8000-8100", s);
    let port = |t: &str| -> Result<u16, String> {
        if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match t.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            _ => Err(format!("--ports: port {} is outside 1..65535", t)),
        }
    };
    let mut seen = vec![false; 65536];
    for item in s.split(',') {
        let (lo, hi) = match item.find('-') {
            Some(i) => (port(&item[..i])?, port(&item[i + 1..])?),
            None => {
                let p = port(item)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!("--ports: range {} runs backwards", item));
        }
        for p in lo..=hi {
            seen[p as usize] = true;
        }
    }
    Ok((1..=65535u32).filter(|&p| seen[p as usize]).map(|p| p as u16).collect())
}

/// Writes ports back compactly: 22,80,8000-8100.
fn format_ports(ports: &[u16]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len() && ports[j + 1] == ports[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j > i {
            let _ = write!(out, "{}-{}", ports[i], ports[j]);
        } else {
            let _ = write!(out, "{}", ports[i]);
        }
        i = j + 1;
    }
    out
}

/// The scan, checked: what to probe and how long each probe may wait.
struct Plan {
    network: Network,
    ports: Vec<u16>,
    timeout_ms: u32,
}

fn plan(ip: &str, ports: &str, timeout_ms: i64) -> Result<Plan, String> {
    let network = parse_network(ip)?;
    let ports = parse_ports(ports)?;
    let probes = network.count() as usize * ports.len();
    if probes > MAX_PROBES {
        return Err(format!(
            "{} addresses × {} ports = {} probes, more than the {} one scan may make",
            network.count(),
            ports.len(),
            probes,
            MAX_PROBES
        ));
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(format!("--timeout-ms {}: want 1 to {}", timeout_ms, MAX_TIMEOUT_MS));
    }
    Ok(Plan { network, ports, timeout_ms: timeout_ms as u32 })
}

/// The states in the order the summary lists them.
const STATES: [ProbeState; 6] = [
    ProbeState::Open,
    ProbeState::Closed,
    ProbeState::Filtered,
    ProbeState::Unreachable,
    ProbeState::Denied,
    ProbeState::Invalid,
];

fn count_of(results: &[(String, u16, ProbeState)], s: ProbeState) -> usize {
    results.iter().filter(|r| r.2 == s).count()
}

fn text(p: &Plan, results: &[(String, u16, ProbeState)], all: bool) -> String {
    let mut out = String::new();
    // Open and denied rows always: what was found, and what the grants kept from the
    // scan, which must never read as "closed". --all lists the rest too.
    let shown: Vec<&(String, u16, ProbeState)> = results
        .iter()
        .filter(|r| all || r.2 == ProbeState::Open || r.2 == ProbeState::Denied)
        .collect();
    if shown.is_empty() {
        out.push_str("no open ports\n");
    } else {
        // Rows: each open port on its own; runs of consecutive ports of one host in
        // another state merged into one row ("1-1024 denied").
        let mut rows: Vec<(&str, String, ProbeState)> = Vec::new();
        let mut i = 0;
        while i < shown.len() {
            let (h, p, st) = (&shown[i].0, shown[i].1, shown[i].2);
            let mut j = i;
            while st != ProbeState::Open
                && j + 1 < shown.len()
                && shown[j + 1].0 == *h
                && shown[j + 1].2 == st
                && shown[j + 1].1 == shown[j].1 + 1
            {
                j += 1;
            }
            let ports = if j > i { format!("{}-{}", p, shown[j].1) } else { p.to_string() };
            rows.push((h.as_str(), ports, st));
            i = j + 1;
        }
        let hw = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
        let pw = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(4);
        let _ = writeln!(out, "{:<hw$}  {:<pw$}  STATE", "HOST", "PORT", hw = hw, pw = pw);
        for r in &rows {
            let _ = writeln!(out, "{:<hw$}  {:<pw$}  {}", r.0, r.1, r.2.name(), hw = hw, pw = pw);
        }
    }
    if !all {
        let hidden: Vec<String> = STATES[1..4]
            .iter()
            .chain(std::iter::once(&ProbeState::Invalid))
            .map(|&s| (s, count_of(results, s)))
            .filter(|&(_, n)| n > 0)
            .map(|(s, n)| format!("{} {}", n, s.name()))
            .collect();
        if !hidden.is_empty() {
            let _ = writeln!(out, "not shown: {} (--all lists them)", hidden.join(", "));
        }
    }
    let counts: Vec<String> = STATES
        .iter()
        .map(|&s| (s, count_of(results, s)))
        .filter(|&(s, n)| n > 0 || s == ProbeState::Open)
        .map(|(s, n)| format!("{} {}", n, s.name()))
        .collect();
    let n = p.network.count();
    let _ = writeln!(
        out,
        "scanned {}: {} address{} × {} port{} = {} probes: {}",
        p.network.cidr(),
        n,
        if n == 1 { "" } else { "es" },
        p.ports.len(),
        if p.ports.len() == 1 { "" } else { "s" },
        results.len(),
        counts.join(", ")
    );
    let denied = count_of(results, ProbeState::Denied);
    if denied > 0 {
        let _ = writeln!(
            out,
            "{} probe{} denied: not allowed by the network grants (see 'agent-ctl describe scan'; 'agent-ctl grant scan --net CIDR:PORT,...' allows more)",
            denied,
            if denied == 1 { " was" } else { "s were" }
        );
    }
    out
}

fn json(p: &Plan, results: &[(String, u16, ProbeState)]) -> Json {
    Json::obj(vec![
        ("network", p.network.cidr().into()),
        ("ports", format_ports(&p.ports).into()),
        ("timeoutMs", p.timeout_ms.into()),
        ("addresses", p.network.count().into()),
        ("probes", results.len().into()),
        ("counts", Json::obj(STATES.iter().map(|&s| (s.name(), count_of(results, s).into())).collect())),
        (
            "results",
            Json::Arr(
                results
                    .iter()
                    .map(|(h, port, s)| Json::obj(vec![("host", h.as_str().into()), ("port", (*port).into()), ("state", s.name().into())]))
                    .collect(),
            ),
        ),
    ])
}

fn main() {
    let args = Args::parse("scan", "ip ports timeout-ms:int json:bool all:bool");
    if !args.positional().is_empty() {
        args.usage(&format!("unexpected argument {:?}", args.positional()[0]));
    }
    let p = match plan(args.require("ip"), args.require("ports"), args.int_or("timeout-ms", DEFAULT_TIMEOUT_MS)) {
        Ok(p) => p,
        Err(e) => args.usage(&e),
    };
    // Targets in address order, then port order: the order of the output.
    let mut targets: Vec<(String, u16)> = Vec::with_capacity(p.network.count() as usize * p.ports.len());
    for i in 0..p.network.count() {
        let host = p.network.host(i);
        for &port in &p.ports {
            targets.push((host.clone(), port));
        }
    }
    let mut results = Vec::with_capacity(targets.len());
    for batch in targets.chunks(BATCH) {
        match agentctl::probe(batch, p.timeout_ms) {
            Ok(states) => {
                for (t, s) in batch.iter().zip(states) {
                    results.push((t.0.clone(), t.1, s));
                }
            }
            Err(e) => args.fail(1, &format!("probing: {} ({})", e, e.name())),
        }
    }
    if args.bool("json") {
        println!("{}", json(&p, &results));
    } else {
        print!("{}", text(&p, &results, args.bool("all")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        assert_eq!(parse_network("10.0.0.7/24"), Ok(Network::V4(0x0a000000, 24)));
        assert_eq!(parse_network("127.0.0.1"), Ok(Network::V4(0x7f000001, 32)));
        assert_eq!(parse_network("10.0.0.0/20").unwrap().count(), 4096);
        assert_eq!(parse_network("::1").unwrap().cidr(), "::1/128");
        assert_eq!(parse_network("fe80::1:2/120").unwrap().cidr(), "fe80::1:0/120");
        assert_eq!(parse_network("fe80::/116").unwrap().count(), 4096);
        assert_eq!(parse_network("10.0.0.255/31").unwrap().host(1), "10.0.0.255");
        refuses(parse_network, &[
            ("10.0.0.0/19", "8192 addresses, more than the 4096 one scan may cover (at most a /20)"),
            ("0.0.0.0/0", "4294967296 addresses"),
            ("::/0", "2^128 addresses"),
            ("::/64", "2^64 addresses, more than the 4096 one scan may cover (at most a /116)"),
            ("10.0.0.0/33", "want an IPv4 or IPv6 address or CIDR"),
            ("10.0.0.0/", "want an IPv4"),
            ("10.0.0.0/+8", "want an IPv4"),
            ("10.0.0", "want an IPv4"),
            ("example.org", "want an IPv4"),
            ("[::1]", "want an IPv4"),
            ("", "want an IPv4"),
        ]);
    }

    #[test]
    fn ports() {
        assert_eq!(parse_ports("443,22,80,22,8000-8002,1"), Ok(vec![1, 22, 80, 443, 8000, 8001, 8002]));
        assert_eq!(parse_ports("1-65535").unwrap().len(), 65535);
        assert_eq!(format_ports(&parse_ports("443,22,80,8000-8100,8101,1").unwrap()), "1,22,80,443,8000-8101");
        refuses(parse_ports, &[
            ("", "want ports and ranges"),
            ("22,", "want ports and ranges"),
            ("0", "port 0 is outside"),
            ("65536", "port 65536 is outside"),
            ("99999999", "want ports and ranges"),
            ("80-22", "range 80-22 runs backwards"),
            ("1-2-3", "want ports and ranges"),
            ("22 80", "want ports and ranges"),
            ("-5", "want ports and ranges"),
        ]);
    }

    /// Checks that parse refuses each input with an error that contains
    /// the text paired with it.
    fn refuses<T: std::fmt::Debug>(parse: fn(&str) -> Result<T, String>, cases: &[(&str, &str)]) {
        for (bad, want) in cases {
            match parse(bad) {
                Ok(v) => panic!("{:?}: {:?}, want an error", bad, v),
                Err(e) => assert!(e.contains(want), "{:?}: {}, want {}", bad, e, want),
            }
        }
    }

    #[test]
    fn plans() {
        assert!(plan("10.0.0.0/20", "1-16", 1000).is_ok());
        let e = plan("10.0.0.0/20", "1-17", 1000).err().unwrap();
        assert!(e.contains("4096 addresses × 17 ports = 69632 probes, more than the 65536"), "{}", e);
        assert!(plan("127.0.0.1", "1-65535", 1000).is_ok());
        assert!(plan("127.0.0.1", "22", 0).err().unwrap().contains("--timeout-ms 0: want 1 to 30000"));
        assert!(plan("127.0.0.1", "22", 30001).is_err());
    }

    #[test]
    fn outputs() {
        let p = plan("127.0.0.1", "22,80,81", 500).unwrap();
        let r = vec![
            ("127.0.0.1".to_string(), 22, ProbeState::Open),
            ("127.0.0.1".to_string(), 80, ProbeState::Denied),
            ("127.0.0.1".to_string(), 81, ProbeState::Closed),
        ];
        assert_eq!(
            text(&p, &r, false),
            "HOST       PORT  STATE\n\
             127.0.0.1  22    open\n\
             127.0.0.1  80    denied\n\
             not shown: 1 closed (--all lists them)\n\
             scanned 127.0.0.1/32: 1 address × 3 ports = 3 probes: 1 open, 1 closed, 1 denied\n\
             1 probe was denied: not allowed by the network grants (see 'agent-ctl describe scan'; 'agent-ctl grant scan --net CIDR:PORT,...' allows more)\n"
        );
        assert!(text(&p, &r, true).contains("127.0.0.1  81    closed\n"));
        assert!(text(&p, &r[2..], false).starts_with("no open ports\n"));
        assert_eq!(
            json(&p, &r[..1]).to_string(),
            "{\"network\":\"127.0.0.1/32\",\"ports\":\"22,80-81\",\"timeoutMs\":500,\"addresses\":1,\"probes\":1,\
             \"counts\":{\"open\":1,\"closed\":0,\"filtered\":0,\"unreachable\":0,\"denied\":0,\"invalid\":0},\
             \"results\":[{\"host\":\"127.0.0.1\",\"port\":22,\"state\":\"open\"}]}"
        );
        // Runs of one state merge, except open ports; a gap or another host splits them.
        let p = plan("10.0.0.0/31", "1-5", 500).unwrap();
        let mut r = Vec::new();
        for h in ["10.0.0.0", "10.0.0.1"] {
            for (port, s) in [(1, ProbeState::Denied), (2, ProbeState::Denied), (3, ProbeState::Open), (4, ProbeState::Open), (5, ProbeState::Denied)] {
                r.push((h.to_string(), port, s));
            }
        }
        r.retain(|x| !(x.0 == "10.0.0.1" && x.1 == 2));
        assert!(
            text(&p, &r, false).starts_with(
                "HOST      PORT  STATE\n\
                 10.0.0.0  1-2   denied\n\
                 10.0.0.0  3     open\n\
                 10.0.0.0  4     open\n\
                 10.0.0.0  5     denied\n\
                 10.0.0.1  1     denied\n\
                 10.0.0.1  3     open\n\
                 10.0.0.1  4     open\n\
                 10.0.0.1  5     denied\n"
            ),
            "{}",
            text(&p, &r, false)
        );
    }
}
