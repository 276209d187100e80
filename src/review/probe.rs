//! `netpol diff`.
