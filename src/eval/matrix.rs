//! The reachability matrix: every source × destination × probed port, judged once per class
//! pair on two threads, and written as a table, CSV or JSON while it is expanded.

use std::collections::BTreeSet;
use std::io::Write;

use super::classes::{Classes, classes};
use super::topology::Topology;
use super::{End, Endpoint, Flow, PolicySet};
use crate::intent::Protocol;

/// The matrix: endpoints in order, judged once per (source class, destination class) pair
/// (see `eval::classes`), and expanded endpoint by endpoint only as it is written.
#[derive(Clone, Debug, Default)]
pub struct Matrix {
    pub endpoints: Vec<String>,
    /// Per endpoint: its source and destination class, or `None` when the topology lacks it.
    classes: Vec<Option<(usize, usize)>>,
    /// `cells[s][d]`: (protocol, port, allowed) from source class `s` to destination class `d`;
    /// empty when there is nothing to judge.
    cells: Vec<Vec<Vec<(Protocol, u16, bool)>>>,
}

/// Judge every pair of `endpoints` (`ns/pod`, `node:NAME`, `ip:ADDRESS`) on `ports` plus the
/// destination pod's own ports (`ports` alone when `only_ports`). Pairs without a pod on either
/// side, and endpoints the topology lacks, are left empty. Endpoints no policy tells apart are
/// judged once per class.
pub fn compute(
    policies: &PolicySet,
    topology: &Topology,
    endpoints: &[String],
    ports: &BTreeSet<(Protocol, u16)>,
    only_ports: bool,
) -> Matrix {
    compute_with(policies, topology, endpoints, ports, only_ports, true)
}

/// [`compute`], by classes or (`by_class: false`) every pair on its own.
pub fn compute_with(
    policies: &PolicySet,
    topology: &Topology,
    endpoints: &[String],
    ports: &BTreeSet<(Protocol, u16)>,
    only_ports: bool,
    by_class: bool,
) -> Matrix {
    let parsed: Vec<Option<Endpoint<'_>>> =
        endpoints.iter().map(|e| Endpoint::parse(e, topology).ok()).collect();
    let resolved: Vec<Endpoint<'_>> = parsed.iter().flatten().copied().collect();
    let (sources, destinations) = if by_class {
        (
            classes(&[policies], topology, &resolved, End::Source),
            classes(&[policies], topology, &resolved, End::Destination),
        )
    } else {
        (Classes::singletons(resolved.len()), Classes::singletons(resolved.len()))
    };
    let mut next = 0;
    let endpoint_classes: Vec<Option<(usize, usize)>> = parsed
        .iter()
        .map(|e| {
            e.as_ref()?;
            let at = next;
            next += 1;
            Some((*sources.of.get(at)?, *destinations.of.get(at)?))
        })
        .collect();
    let row = |source_class: usize| -> Vec<Vec<(Protocol, u16, bool)>> {
        let Some(from_members) = sources.members.get(source_class) else { return Vec::new() };
        destinations
            .members
            .iter()
            .map(|to_members| {
                let Some((i, j)) = super::classes::representatives(from_members, to_members) else {
                    return Vec::new();
                };
                let (Some(source), Some(destination)) = (resolved.get(i), resolved.get(j)) else {
                    return Vec::new();
                };
                let is_pod = |e: &Endpoint<'_>| matches!(e, Endpoint::Pod(_));
                if !(is_pod(source) || is_pod(destination)) {
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
    let cells =
        crate::parallel::in_halves(sources.members.len(), 2, |rows| rows.map(row).collect::<Vec<_>>())
            .into_iter()
            .flatten()
            .collect();
    Matrix { endpoints: endpoints.to_vec(), classes: endpoint_classes, cells }
}

impl Matrix {
    /// The judged ports from endpoint `i` to endpoint `j`.
    pub(crate) fn cell(&self, i: usize, j: usize) -> &[(Protocol, u16, bool)] {
        if i == j {
            return &[];
        }
        let (Some(Some((source, _))), Some(Some((_, destination)))) =
            (self.classes.get(i), self.classes.get(j))
        else {
            return &[];
        };
        self.cells.get(*source).and_then(|row| row.get(*destination)).map_or(&[], Vec::as_slice)
    }

    /// Every judged entry, one row (source) at a time: `line` renders an entry into the row's
    /// buffer, which is written out whole.
    fn write_rows(
        &self,
        out: &mut dyn Write,
        mut line: impl FnMut(&mut Vec<u8>, usize, usize, Protocol, u16, bool),
    ) -> std::io::Result<()> {
        let mut row = Vec::with_capacity(1 << 16);
        for i in 0..self.endpoints.len() {
            row.clear();
            for j in 0..self.endpoints.len() {
                for (protocol, port, allowed) in self.cell(i, j) {
                    line(&mut row, i, j, *protocol, *port, *allowed);
                }
            }
            out.write_all(&row)?;
        }
        Ok(())
    }

    /// `from,to,port,protocol,allowed`, one line per judged entry.
    pub fn write_csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(b"from,to,port,protocol,allowed\n")?;
        let name = |i: usize| self.endpoints.get(i).map_or("", String::as_str);
        self.write_rows(out, |row, from, to, protocol, port, allowed| {
            for part in [name(from), ",", name(to), ","] {
                row.extend_from_slice(part.as_bytes());
            }
            push_number(row, port);
            row.push(b',');
            row.extend_from_slice(protocol.as_str().as_bytes());
            row.extend_from_slice(if allowed { b",true\n" } else { b",false\n" });
        })
    }

    /// A JSON array of `{from, to, port, protocol, allowed}`, one entry per line.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(b"[")?;
        let mut first = true;
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let quoted: Vec<String> = self.endpoints.iter().map(|e| quote(e)).collect();
        let name = |i: usize| quoted.get(i).map_or("", String::as_str);
        self.write_rows(out, |row, from, to, protocol, port, allowed| {
            row.extend_from_slice(if first { b"\n  " } else { b",\n  " });
            first = false;
            for part in ["{\"from\": ", name(from), ", \"to\": ", name(to), ", \"port\": "] {
                row.extend_from_slice(part.as_bytes());
            }
            push_number(row, port);
            for part in [", \"protocol\": \"", protocol.as_str(), "\", \"allowed\": "] {
                row.extend_from_slice(part.as_bytes());
            }
            row.extend_from_slice(if allowed { b"true}" } else { b"false}" });
        })?;
        out.write_all(if first { b"]\n" } else { b"\n]\n" })
    }

    /// Sources down, destinations across (numbered, with a legend). A cell is `*` when every
    /// probed port is allowed, `.` when none is, else the allowed ports (`53u` = UDP 53);
    /// blank when there is nothing to judge.
    pub fn write_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let width = self.endpoints.len().to_string().len();
        for (i, e) in self.endpoints.iter().enumerate() {
            writeln!(out, "{:>width$}  {e}", i + 1)?;
        }
        out.write_all(b"\n")?;
        // A cell's text depends on the class pair only; a column is as wide as its widest
        // cell, the endpoint's cell with itself (blank) aside.
        let texts: Vec<Vec<String>> =
            self.cells.iter().map(|row| row.iter().map(|c| cell_text(c)).collect()).collect();
        let mut source_sizes = vec![0usize; texts.len()];
        for (source, _) in self.classes.iter().flatten() {
            if let Some(n) = source_sizes.get_mut(*source) {
                *n += 1;
            }
        }
        // Per destination class: the widest text with its source class, and the runner-up.
        let destination_count = texts.first().map_or(0, Vec::len);
        let widest: Vec<((usize, usize), usize)> = (0..destination_count)
            .map(|d| {
                let mut best = (0, usize::MAX);
                let mut second = 0;
                for (s, row) in texts.iter().enumerate() {
                    let len = row.get(d).map_or(0, String::len);
                    if len > best.0 {
                        second = best.0;
                        best = (len, s);
                    } else if len > second {
                        second = len;
                    }
                }
                (best, second)
            })
            .collect();
        let column_width: Vec<usize> = (0..self.endpoints.len())
            .map(|j| {
                let text = match self.classes.get(j) {
                    Some(Some((own_source, destination))) => match widest.get(*destination) {
                        // The column's widest cell may be the endpoint's own (blank) one.
                        Some(((len, s), second)) => {
                            if s == own_source && source_sizes.get(*s) == Some(&1) {
                                *second
                            } else {
                                *len
                            }
                        }
                        None => 0,
                    },
                    _ => 0,
                };
                text.max((j + 1).to_string().len())
            })
            .collect();
        write!(out, "{:>width$} ", "")?;
        for (j, w) in column_width.iter().enumerate() {
            write!(out, " {:>w$}", j + 1)?;
        }
        out.write_all(b"\n")?;
        for i in 0..self.endpoints.len() {
            write!(out, "{:>width$} ", i + 1)?;
            for (j, w) in column_width.iter().enumerate() {
                let text = match (i == j, self.classes.get(i), self.classes.get(j)) {
                    (false, Some(Some((source, _))), Some(Some((_, destination)))) => {
                        texts.get(*source).and_then(|row| row.get(*destination)).map_or("", String::as_str)
                    }
                    _ => "",
                };
                write!(out, " {text:>w$}")?;
            }
            out.write_all(b"\n")?;
        }
        out.write_all(b"\n* every probed port allowed   . none allowed   otherwise the allowed ports (u = UDP, s = SCTP)\n")
    }
}

/// A port number in decimal, without going through the formatting machinery (the CSV of a
/// large matrix is hundreds of millions of them).
fn push_number(out: &mut Vec<u8>, n: u16) {
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

fn cell_text(cell: &[(Protocol, u16, bool)]) -> String {
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
}
