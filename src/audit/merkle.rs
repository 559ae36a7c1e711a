//! The Merkle tree of RFC 6962 §2.1 (as restated in RFC 9162 §2.1): leaf and node hashes,
//! the tree hash, an incremental right edge ("frontier"), and inclusion and consistency
//! proofs with the verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH over leaf hashes (RFC 6962 §2.1). O(n).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The right edge of a tree: the roots of its perfect subtrees, largest first, one per set
/// bit of its size. Enough to append a leaf and to compute the root in O(log n).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Frontier> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    pub fn push(&mut self, leaf: Hash) {
        // Like binary increment: each trailing one bit of the size is a subtree of the same
        // size as the new one, to merge with.
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self.hashes.pop().expect("one hash per set bit of size");
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// Inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 6962
/// §2.1.1, PATH). O(size).
pub fn inclusion_proof(leaves: &[Hash], index: u64, size: u64) -> Option<Vec<Hash>> {
    if index >= size || size > leaves.len() as u64 {
        return None;
    }
    fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
        if d.len() <= 1 {
            return;
        }
        let k = split(d.len() as u64) as usize;
        if m < k {
            path(m, &d[..k], out);
            out.push(root(&d[k..]));
        } else {
            path(m - k, &d[k..], out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    path(index as usize, &leaves[..size as usize], &mut out);
    Some(out)
}

/// RFC 9162 §2.1.3.2.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// Consistency proof between the trees of the first `old` and `new` leaves (RFC 6962
/// §2.1.2, PROOF). Empty when old == new or old == 0. O(new).
pub fn consistency_proof(leaves: &[Hash], old: u64, new: u64) -> Option<Vec<Hash>> {
    if old > new || new > leaves.len() as u64 {
        return None;
    }
    fn sub(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = d.len();
        if m == n {
            if !complete {
                out.push(root(d));
            }
            return;
        }
        let k = split(n as u64) as usize;
        if m <= k {
            sub(m, &d[..k], complete, out);
            out.push(root(&d[k..]));
        } else {
            sub(m - k, &d[k..], false, out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    if old > 0 {
        sub(old as usize, &leaves[..new as usize], true, &mut out);
    }
    Some(out)
}

/// RFC 9162 §2.1.4.2. A proof from the empty tree is trivially true.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == 0 {
        return proof.is_empty();
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *old_root && sr == *new_root && snode == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Hash {
        crate::ids::unhex(s).unwrap().try_into().unwrap()
    }

    /// The RFC 6962 test data used by certificate-transparency and transparency-dev.
    fn kat_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|x| leaf_hash(&crate::ids::unhex(x).unwrap()))
        .collect()
    }

    const KAT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn known_answer_roots() {
        let leaves = kat_leaves();
        let mut f = Frontier::new();
        assert_eq!(f.root(), h(KAT_ROOTS[0]));
        for n in 1..=8 {
            assert_eq!(root(&leaves[..n]), h(KAT_ROOTS[n]), "size {n}");
            f.push(leaves[n - 1]);
            assert_eq!(f.root(), h(KAT_ROOTS[n]), "frontier at size {n}");
        }
    }

    #[test]
    fn known_answer_proofs() {
        let leaves = kat_leaves();
        let p = inclusion_proof(&leaves, 5, 8).unwrap();
        assert_eq!(
            p,
            [
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        );
        assert!(verify_inclusion(5, 8, &leaves[5], &p, &h(KAT_ROOTS[8])));
        let c = consistency_proof(&leaves, 3, 8).unwrap();
        assert_eq!(
            c,
            [
                h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
                h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
                h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        );
        assert!(verify_consistency(
            3,
            8,
            &h(KAT_ROOTS[3]),
            &h(KAT_ROOTS[8]),
            &c
        ));
        assert!(!verify_consistency(
            3,
            8,
            &h(KAT_ROOTS[4]),
            &h(KAT_ROOTS[8]),
            &c
        ));
    }

    fn leaves(n: usize, salt: u8) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&[salt, i as u8, (i >> 8) as u8]))
            .collect()
    }

    proptest! {
        #[test]
        fn frontier_matches_root_and_round_trips(n in 0usize..300) {
            let ls = leaves(n, 1);
            let mut f = Frontier::new();
            for l in &ls {
                f.push(*l);
            }
            prop_assert_eq!(f.root(), root(&ls));
            prop_assert_eq!(Frontier::from_parts(f.size(), f.hashes().to_vec()), Some(f.clone()));
            prop_assert!(Frontier::from_parts(f.size() + 1, f.hashes().to_vec()).is_none() || (f.size() + 1).count_ones() as usize == f.hashes().len());
        }

        #[test]
        fn inclusion_proofs_verify_and_mutations_do_not(n in 1u64..200, i in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let ls = leaves(n as usize, 2);
            let index = i.index(n as usize) as u64;
            let r = root(&ls);
            let p = inclusion_proof(&ls, index, n).unwrap();
            prop_assert!(verify_inclusion(index, n, &ls[index as usize], &p, &r));
            let other = leaf_hash(b"other");
            prop_assert!(!verify_inclusion(index, n, &other, &p, &r));
            if n > 1 {
                prop_assert!(!verify_inclusion((index + 1) % n, n, &ls[index as usize], &p, &r));
            }
            if !p.is_empty() {
                let mut bad = p.clone();
                let j = flip.index(bad.len());
                bad[j][0] ^= 1;
                prop_assert!(!verify_inclusion(index, n, &ls[index as usize], &bad, &r));
            }
        }

        #[test]
        fn consistency_proofs_verify_and_mutations_do_not(n in 1u64..200, m in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let ls = leaves(n as usize, 3);
            let old = m.index(n as usize + 1) as u64;
            let (r_old, r_new) = (root(&ls[..old as usize]), root(&ls));
            let p = consistency_proof(&ls, old, n).unwrap();
            prop_assert!(verify_consistency(old, n, &r_old, &r_new, &p));
            if old > 0 && old < n {
                let foreign = root(&leaves(old as usize, 4));
                prop_assert!(!verify_consistency(old, n, &foreign, &r_new, &p));
                let mut bad = p.clone();
                let j = flip.index(bad.len());
                bad[j][31] ^= 0x80;
                prop_assert!(!verify_consistency(old, n, &r_old, &r_new, &bad));
            }
        }
    }
}
