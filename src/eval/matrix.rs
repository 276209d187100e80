//! The reachability matrix: every source × destination × probed port, judged once, on two
//! threads; printed as a table, CSV or JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::topology::Topology;
use super::{Endpoint, Flow, PolicySet};
use crate::intent::Protocol;

/// One judged cell entry.
#[derive(Clone, Debug, Serialize)]
pub struct Reach {
    pub from: String,
    pub to: String,
    pub port: u16,
    pub protocol: String,
    pub allowed: bool,
}

/// The matrix: endpoints in order, and for every ordered pair the ports judged.
#[derive(Clone, Debug, Default)]
pub struct Matrix {
    pub endpoints: Vec<String>,
    /// `cells[i][j]`: (protocol, port, allowed) from endpoint i to endpoint j.
    pub cells: Vec<Vec<Vec<(Protocol, u16, bool)>>>,
}

/// Judge every pair of `endpoints` (`ns/pod`, `node:NAME`, `ip:ADDRESS`) on `ports` plus the
/// destination pod's own ports (`ports` alone when `only_ports`). Pairs without a pod on either
/// side, and endpoints the topology lacks, are left empty.
pub fn compute(
    policies: &PolicySet,
    topology: &Topology,
    endpoints: &[String],
    ports: &BTreeSet<(Protocol, u16)>,
    only_ports: bool,
) -> Matrix {
    let resolved: Vec<Option<Endpoint<'_>>> =
        endpoints.iter().map(|e| Endpoint::parse(e, topology).ok()).collect();
    let row = |i: usize| -> Vec<Vec<(Protocol, u16, bool)>> {
        let Some(Some(source)) = resolved.get(i) else { return vec![Vec::new(); resolved.len()] };
        resolved
            .iter()
            .enumerate()
            .map(|(j, destination)| {
                let Some(destination) = destination else { return Vec::new() };
                let is_pod = |e: &Endpoint<'_>| matches!(e, Endpoint::Pod(_));
                if i == j || !(is_pod(source) || is_pod(destination)) {
                    return Vec::new();
                }
                let own: &[super::ContainerPort] = match (destination, only_ports) {
                    (Endpoint::Pod(pod), false) => &pod.ports,
                    _ => &[],
                };
                let mut probe: Vec<(Protocol, u16)> = ports.iter().copied().collect();
                probe.extend(own.iter().map(|p| (p.protocol, p.port)));
                probe.sort_unstable();
                probe.dedup();
                probe
                    .into_iter()
                    .map(|(protocol, port)| {
                        let flow = Flow { source: *source, destination: *destination, protocol, port };
                        (protocol, port, policies.allowed(topology, &flow))
                    })
                    .collect()
            })
            .collect()
    };
    let cells = crate::parallel::in_halves(endpoints.len(), 2, |rows| rows.map(row).collect::<Vec<_>>())
        .into_iter()
        .flatten()
        .collect();
    Matrix { endpoints: endpoints.to_vec(), cells }
}

impl Matrix {
    /// Every judged entry, row by row.
    pub fn entries(&self) -> Vec<Reach> {
        let mut out = Vec::new();
        for (i, row) in self.cells.iter().enumerate() {
            for (j, cell) in row.iter().enumerate() {
                for (protocol, port, allowed) in cell {
                    out.push(Reach {
                        from: self.endpoints.get(i).cloned().unwrap_or_default(),
                        to: self.endpoints.get(j).cloned().unwrap_or_default(),
                        port: *port,
                        protocol: protocol.as_str().to_string(),
                        allowed: *allowed,
                    });
                }
            }
        }
        out
    }

    /// Every judged entry, visited row by row without building them.
    fn each(&self, mut visit: impl FnMut(&str, &str, Protocol, u16, bool)) {
        for (i, row) in self.cells.iter().enumerate() {
            let from = self.endpoints.get(i).map_or("", String::as_str);
            for (j, cell) in row.iter().enumerate() {
                let to = self.endpoints.get(j).map_or("", String::as_str);
                for (protocol, port, allowed) in cell {
                    visit(from, to, *protocol, *port, *allowed);
                }
            }
        }
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::from("from,to,port,protocol,allowed\n");
        self.each(|from, to, protocol, port, allowed| {
            let _ = writeln!(out, "{from},{to},{port},{},{allowed}", protocol.as_str());
        });
        out
    }

    /// A JSON array of `{from, to, port, protocol, allowed}`, one entry per line.
    pub fn to_json(&self) -> String {
        let mut out = String::from("[");
        let mut first = true;
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        self.each(|from, to, protocol, port, allowed| {
            out.push_str(if first { "\n  " } else { ",\n  " });
            first = false;
            let _ = write!(
                out,
                "{{\"from\": {}, \"to\": {}, \"port\": {port}, \"protocol\": \"{}\", \"allowed\": {allowed}}}",
                quote(from),
                quote(to),
                protocol.as_str()
            );
        });
        out.push_str(if first { "]\n" } else { "\n]\n" });
        out
    }

    /// Sources down, destinations across (numbered, with a legend). A cell is `*` when every
    /// probed port is allowed, `.` when none is, else the allowed ports (`53u` = UDP 53);
    /// blank when there is nothing to judge.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let width = self.endpoints.len().to_string().len();
        for (i, e) in self.endpoints.iter().enumerate() {
            let _ = writeln!(out, "{:>width$}  {e}", i + 1);
        }
        out.push('\n');
        let cell_text = |cell: &Vec<(Protocol, u16, bool)>| -> String {
            if cell.is_empty() {
                return String::new();
            }
            let allowed: Vec<String> = cell
                .iter()
                .filter(|c| c.2)
                .map(|(p, port, _)| match p {
                    Protocol::Tcp => port.to_string(),
                    Protocol::Udp => format!("{port}u"),
                    Protocol::Sctp => format!("{port}s"),
                })
                .collect();
            if allowed.is_empty() {
                ".".to_string()
            } else if allowed.len() == cell.len() {
                "*".to_string()
            } else {
                allowed.join(",")
            }
        };
        let texts: Vec<Vec<String>> =
            self.cells.iter().map(|row| row.iter().map(cell_text).collect()).collect();
        let column_width: Vec<usize> = (0..self.endpoints.len())
            .map(|j| {
                texts
                    .iter()
                    .map(|row| row.get(j).map_or(0, String::len))
                    .max()
                    .unwrap_or(0)
                    .max((j + 1).to_string().len())
            })
            .collect();
        let _ = write!(out, "{:>width$} ", "");
        for (j, w) in column_width.iter().enumerate() {
            let _ = write!(out, " {:>w$}", j + 1);
        }
        out.push('\n');
        for (i, row) in texts.iter().enumerate() {
            let _ = write!(out, "{:>width$} ", i + 1);
            for (j, text) in row.iter().enumerate() {
                let w = column_width.get(j).copied().unwrap_or(1);
                let _ = write!(out, " {text:>w$}");
            }
            out.push('\n');
        }
        out.push_str("\n* every probed port allowed   . none allowed   otherwise the allowed ports (u = UDP, s = SCTP)\n");
        out
    }
}
