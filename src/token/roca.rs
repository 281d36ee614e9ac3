//! Detection of RSA moduli from the ROCA-vulnerable Infineon key generator (CVE-2017-15361).

/// The ROCA test (Nemec et al., CCS 2017): keys from the vulnerable Infineon library satisfy
/// `n mod p ∈ ⟨65537⟩ (mod p)` for every small prime `p` of their primorial; moduli of 2048 bits and
/// more use the primes up to 701. A random modulus passes all 125 tests with probability ≈ 2⁻¹⁶⁷.
pub(crate) fn has_roca_fingerprint(n: &[u8]) -> bool {
    (3u32..=701).filter(|p| is_prime(*p)).all(|p| {
        let residue = n
            .iter()
            .fold(0u32, |acc, b| (acc * 256 + u32::from(*b)) % p);
        let generator = 65537 % p;
        let mut power = 1;
        loop {
            if power == residue {
                return true;
            }
            power = power * generator % p;
            if power == 1 {
                return false;
            }
        }
    })
}

fn is_prime(n: u32) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_moduli_have_no_roca_fingerprint() {
        // 2^2048 - 1 is odd and not of the ROCA form (it is divisible by 3, so n mod 3 = 0).
        assert!(!has_roca_fingerprint(&[0xff; 256]));
        assert!(is_prime(701) && !is_prime(703) && !is_prime(1));
    }
}
