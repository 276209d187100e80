//! netpol: one declarative values file in, deterministic network policies for Kubernetes,
//! Cilium, Calico and ClusterNetworkPolicy out.
//!
//! Data flows one way: values files → [`values`] (typed, strict) → [`intent`] (engine-agnostic
//! IR) → [`engine`] (typed objects per engine) → [`emit`] (canonical text). [`render`] runs the
//! whole pipeline; [`cli`] is the command line and [`diag`] prints errors.

pub mod cli;
pub mod diag;
pub mod emit;
pub mod engine;
pub mod error;
pub mod eval;
pub(crate) mod input;
pub mod intent;
pub mod lint;
pub(crate) mod parallel;
pub mod render;
pub mod review;
pub mod sorted;
pub mod templates;
pub mod values;
pub mod vocab;
pub mod wire;
pub mod yaml;
