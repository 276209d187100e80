//! The two directions of traffic at a pod, and a value per direction.

use serde::Serialize;

/// Direction of a policy decision: egress is judged at the source, ingress at the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Egress,
    Ingress,
}

impl Direction {
    /// `Ingress` / `Egress`, as in Kubernetes `policyTypes` and Calico `types`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }

    /// `ingress` / `egress`, as in spec field names.
    pub fn field(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// One value per direction, indexed by [`Direction`] instead of by a number that each reader
/// has to remember means ingress or egress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerDirection<T> {
    pub ingress: T,
    pub egress: T,
}

impl<T> PerDirection<T> {
    /// Built by calling `f` for ingress, then for egress.
    pub(crate) fn from_fn(mut f: impl FnMut(Direction) -> T) -> Self {
        let ingress = f(Direction::Ingress);
        PerDirection { ingress, egress: f(Direction::Egress) }
    }

    /// Each direction with its value: ingress, then egress.
    pub fn iter(&self) -> impl Iterator<Item = (Direction, &T)> {
        [(Direction::Ingress, &self.ingress), (Direction::Egress, &self.egress)].into_iter()
    }
}

impl<T> std::ops::Index<Direction> for PerDirection<T> {
    type Output = T;
    fn index(&self, dir: Direction) -> &T {
        match dir {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

impl<T> std::ops::IndexMut<Direction> for PerDirection<T> {
    fn index_mut(&mut self, dir: Direction) -> &mut T {
        match dir {
            Direction::Ingress => &mut self.ingress,
            Direction::Egress => &mut self.egress,
        }
    }
}
