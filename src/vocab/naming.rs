//! Object names: DNS labels (≤63, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`), valid for every engine.

/// Longest name every kind accepts (Calico tiers and the safe common denominator).
pub(crate) const MAX_NAME: usize = 63;

/// Join parts with `-`; when the result is too long, keep a prefix and append a stable hash of
/// the whole, so distinct inputs keep distinct names and the same input the same name.
pub fn join(parts: &[&str]) -> String {
    let full = parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("-");
    fit(&full)
}

/// Shorten `name` to `MAX_NAME` with a stable hash suffix if needed.
pub fn fit(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let hash = format!("{:08x}", fnv1a(name.as_bytes()) as u32);
    let keep = MAX_NAME - hash.len() - 1;
    let prefix = name.get(..keep).unwrap_or(name).trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}")
}

/// FNV-1a: tiny, stable across platforms and releases (unlike std's hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Whether `name` is a DNS-1123 label.
pub(crate) fn is_dns_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept() {
        assert_eq!(join(&["identity", "keycloak"]), "identity-keycloak");
        assert_eq!(join(&["", "keycloak"]), "keycloak");
    }

    #[test]
    fn long_names_are_cut_with_a_stable_hash() {
        let long = "a".repeat(70);
        let a = fit(&long);
        assert_eq!(a.len(), MAX_NAME);
        assert!(is_dns_label(&a));
        assert_eq!(a, fit(&long));
        assert_ne!(a, fit(&"a".repeat(71)));
    }
}
