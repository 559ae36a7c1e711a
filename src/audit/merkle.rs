//! The Merkle hash tree of RFC 6962 §2.1 (restated, unchanged for SHA-256, in RFC 9162 §2.1),
//! as used by Certificate Transparency and by C2SP tlog-checkpoint logs.
//!
//! - Hashing (RFC 6962 §2.1): a leaf is `SHA-256(0x00 || data)`, an interior node is
//!   `SHA-256(0x01 || left || right)`, and the empty tree is `SHA-256("")`. The tree hash
//!   `MTH` of `n > 1` leaves splits them at `k`, the largest power of two smaller than `n`.
//! - [`Frontier`]: the right edge of a tree (one perfect-subtree root per set bit of its
//!   size, the largest first), enough to append a leaf and compute the root in O(log n)
//!   time and space, and to persist and reload that state.
//! - Proofs computed from any [`LeafSource`]: inclusion proofs `PATH(m, D[n])` (RFC 6962
//!   §2.1.1) and consistency proofs `PROOF(m, D[n])` (RFC 6962 §2.1.2), checked with the
//!   verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! Every function works on leaf *hashes*; apply [`leaf_hash`] to entry bytes first.
//! Leaf indices are zero-based. Producing a proof costs O(size) hashes (no interior nodes
//! are cached); verifying one costs O(log size).

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// The hash of a leaf holding `data`: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The largest power of two strictly smaller than `n`. Callers guarantee `n >= 2`, so
/// `n - 1 >= 1` has at most 63 leading zeros and the shift is in range.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[n])` of RFC 6962 §2.1, over leaf hashes: the empty root for no leaves, the leaf
/// hash itself for one, otherwise `node_hash(MTH(D[0:k]), MTH(D[k:n]))`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            // `usize` is at most 64 bits wide, so the length fits in a u64, and `k` is
            // smaller than the length, so it fits back in a usize.
            let k = split_point(leaves.len() as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The right edge of a Merkle tree (also called its compact range): the roots of the
/// perfect subtrees that make up a tree of `size` leaves, one per set bit of `size`, the
/// largest (leftmost) first. Appending a leaf and computing the root take O(log size).
///
/// The state is `size` plus [`Frontier::hashes`]; [`Frontier::from_parts`] rebuilds it.
/// The hash order is the one of transparency-dev/merkle's `compact.Range`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from its persisted parts. `None` unless there is exactly one
    /// hash per set bit of `size` (nothing else about the hashes can be checked).
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Frontier> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, largest first; as many as `size().count_ones()`.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash.
    ///
    /// # Panics
    ///
    /// If the tree already holds `u64::MAX` leaves.
    pub fn push(&mut self, leaf: Hash) {
        assert!(
            self.size < u64::MAX,
            "a Merkle tree holds at most 2^64 - 1 leaves"
        );
        // Like a binary increment: each trailing one bit of the size is a perfect subtree
        // of the same size as the one being carried, so the two merge into their parent.
        let mut carry = leaf;
        for _ in 0..self.size.trailing_ones() {
            // There is one hash per set bit of `size`, so at least `trailing_ones` of them:
            // this always pops.
            if let Some(left) = self.hashes.pop() {
                carry = node_hash(&left, &carry);
            }
        }
        self.hashes.push(carry);
        self.size += 1;
    }

    /// The tree hash of all leaves appended so far; equal to [`root`] over them.
    pub fn root(&self) -> Hash {
        // MTH splits off the largest perfect subtree on the left, then recurses on the
        // rest, whose own largest perfect subtree is the next hash: a right fold.
        let mut hashes = self.hashes.iter().rev();
        match hashes.next() {
            None => empty_root(),
            Some(last) => hashes.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// Where proofs read leaf hashes from, so that a caller can back them with storage.
///
/// Sources are expected to be contiguous: if leaf `i` is present, so are all before it.
pub trait LeafSource {
    /// The hash of leaf `index` (zero-based), or `None` if the source does not hold it.
    fn leaf(&self, index: u64) -> Option<Hash>;
}

impl LeafSource for [Hash] {
    fn leaf(&self, index: u64) -> Option<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.get(i))
            .copied()
    }
}

impl LeafSource for Vec<Hash> {
    fn leaf(&self, index: u64) -> Option<Hash> {
        self.as_slice().leaf(index)
    }
}

/// `MTH(D[start:start+n])`, reading every leaf of the range. `None` if one is missing.
fn mth(src: &(impl LeafSource + ?Sized), start: u64, n: u64) -> Option<Hash> {
    match n {
        0 => Some(empty_root()),
        1 => src.leaf(start),
        _ => {
            let k = split_point(n);
            Some(node_hash(
                &mth(src, start, k)?,
                &mth(src, start + k, n - k)?,
            ))
        }
    }
}

/// The tree hash `MTH(D[start:end])` of the leaves `start..end` (any range, not only an
/// aligned subtree; the empty range gives [`empty_root`]). `None` if `start > end` or a
/// leaf of the range is missing from `src`. O(end - start).
pub fn subtree_root(src: &(impl LeafSource + ?Sized), start: u64, end: u64) -> Option<Hash> {
    mth(src, start, end.checked_sub(start)?)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves:
/// `PATH(index, D[size])` of RFC 6962 §2.1.1, the sibling hashes from the leaf up to the
/// root. `None` if `index >= size` or a leaf below `size` is missing from `src`. O(size).
pub fn inclusion_proof(
    src: &(impl LeafSource + ?Sized),
    index: u64,
    size: u64,
) -> Option<Vec<Hash>> {
    if index >= size {
        return None;
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof)?;
    Some(proof)
}

/// Appends `PATH(m, D[start:start+n])` to `out`; `m < n`.
fn path(
    src: &(impl LeafSource + ?Sized),
    m: u64,
    start: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Option<()> {
    if n == 1 {
        // PATH(0, {d}) is empty, but the leaf must still exist for the proof to mean
        // anything.
        return src.leaf(start).map(|_| ());
    }
    let k = split_point(n);
    if m < k {
        path(src, m, start, k, out)?;
        out.push(mth(src, start + k, n - k)?);
    } else {
        path(src, m - k, start + k, n - k, out)?;
        out.push(mth(src, start, k)?);
    }
    Some(())
}

/// Checks an inclusion proof with the algorithm of RFC 9162 §2.1.3.2: that `leaf` is the
/// leaf hash at `index` of the tree of `size` leaves whose root is `root`.
///
/// The proof binds `size` only through the shape of the leaf's path: a proof and root for
/// one size also verify under another size whose path to `index` has the same shape (leaf
/// 0 of sizes 3 and 4, say). Take `size` and `root` from the same signed checkpoint.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// The consistency proof between the tree of the first `old_size` leaves and the tree of
/// the first `new_size`: `PROOF(old_size, D[new_size])` of RFC 6962 §2.1.2.
///
/// - `None` if `old_size > new_size`, or a leaf the proof needs (or leaf `new_size - 1`)
///   is missing from `src`.
/// - Empty if `old_size == new_size` (the roots must then be equal).
/// - Empty if `old_size == 0`: RFC 9162 §2.1.4 defines no proof for an empty old tree,
///   since every tree extends it, and [`verify_consistency`] accepts exactly the empty
///   proof there.
///
/// O(new_size).
pub fn consistency_proof(
    src: &(impl LeafSource + ?Sized),
    old_size: u64,
    new_size: u64,
) -> Option<Vec<Hash>> {
    if old_size > new_size {
        return None;
    }
    for size in [old_size, new_size] {
        if size > 0 {
            src.leaf(size - 1)?;
        }
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(src, old_size, 0, new_size, true, &mut proof)?;
    }
    Some(proof)
}

/// Appends `SUBPROOF(m, D[start:start+n], whole)` to `out`; `0 < m <= n`. `whole` is true
/// while the subtree is the whole old tree, whose root the verifier already has.
fn subproof(
    src: &(impl LeafSource + ?Sized),
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Option<()> {
    if m == n {
        if !whole {
            out.push(mth(src, start, n)?);
        }
        return Some(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, start, k, whole, out)?;
        out.push(mth(src, start + k, n - k)?);
    } else {
        subproof(src, m - k, start + k, n - k, false, out)?;
        out.push(mth(src, start, k)?);
    }
    Some(())
}

/// Checks a consistency proof with the algorithm of RFC 9162 §2.1.4.2: that the tree of
/// `new_size` leaves with root `new_root` extends the tree of `old_size` leaves with root
/// `old_root`.
///
/// As with [`verify_inclusion`], `new_size` is bound only through the shape of the
/// proof, so take it from the same signed checkpoint as `new_root`.
///
/// Edge cases, as in transparency-dev/merkle: `old_size > new_size` fails; equal sizes
/// hold exactly when the roots are equal and the proof is empty; `old_size == 0` holds
/// for any roots exactly when the proof is empty (every tree extends the empty one).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    // 0 < old_size < new_size. Step 1: the proof is never empty here.
    if proof.is_empty() {
        return false;
    }
    // Step 2: when the old tree is a perfect subtree its root is omitted from the proof,
    // so it stands in as the first element.
    let (first, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        (proof[0], &proof[1..])
    };
    // Steps 3 and 4.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Steps 5 and 6.
    let mut f_r = first;
    let mut s_r = first;
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    f_r == *old_root && s_r == *new_root && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(hex: &str) -> Hash {
        let bytes = unhex(hex);
        bytes.try_into().expect("a 32-byte hex hash")
    }

    fn unhex(hex: &str) -> Vec<u8> {
        assert!(hex.len().is_multiple_of(2), "odd-length hex {hex:?}");
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    // The RFC 6962 test data of transparency-dev/merkle (testonly/constants.go and
    // proof/verify_test.go), the same as certificate-transparency's merkle tree tests.
    const LEAF_INPUTS: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// NodeHashes(): level 0 are the leaf hashes, then each level up.
    const NODE_HASHES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    /// RootHashes(): the root of the tree of the first `i` leaves, for i in 0..=8.
    const ROOTS: [&str; 9] = [
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

    /// CompactTrees(): the frontier of the tree of the first `i` leaves, as
    /// (level, index) pairs into NODE_HASHES.
    const COMPACT: [&[(usize, usize)]; 9] = [
        &[],
        &[(0, 0)],
        &[(1, 0)],
        &[(1, 0), (0, 2)],
        &[(2, 0)],
        &[(2, 0), (0, 4)],
        &[(2, 0), (1, 2)],
        &[(2, 0), (1, 2), (0, 6)],
        &[(3, 0)],
    ];

    /// inclusionProofs of proof/verify_test.go: (leaf, size, proof), `leaf` one-based.
    const INCLUSION: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            3,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            2,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// consistencyProofs of proof/verify_test.go: (size1, size2, proof).
    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn vector_leaves() -> Vec<Hash> {
        LEAF_INPUTS.iter().map(|x| leaf_hash(&unhex(x))).collect()
    }

    fn hashes(hex: &[&str]) -> Vec<Hash> {
        hex.iter().map(|x| h(x)).collect()
    }

    const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

    #[test]
    fn hashing_primitives() {
        assert_eq!(empty_root(), h(ROOTS[0]));
        assert_eq!(root(&[]), empty_root());
        // Domain separation: a leaf is not the node of its halves.
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut concat = a.to_vec();
        concat.extend_from_slice(&b);
        assert_ne!(leaf_hash(&concat), node_hash(&a, &b));
    }

    #[test]
    fn known_leaf_and_node_hashes() {
        let leaves = vector_leaves();
        assert_eq!(leaves, hashes(NODE_HASHES[0]));
        for (level, nodes) in NODE_HASHES.iter().enumerate() {
            let width = 1usize << level;
            for (i, node) in nodes.iter().enumerate() {
                let got = subtree_root(&leaves, (i * width) as u64, ((i + 1) * width) as u64);
                assert_eq!(got, Some(h(node)), "level {level} node {i}");
            }
        }
    }

    #[test]
    fn known_roots() {
        let leaves = vector_leaves();
        let mut frontier = Frontier::new();
        for size in 0..=8 {
            let expected = h(ROOTS[size]);
            assert_eq!(root(&leaves[..size]), expected, "root of size {size}");
            assert_eq!(frontier.root(), expected, "frontier root of size {size}");
            assert_eq!(subtree_root(&leaves, 0, size as u64), Some(expected));
            let compact: Vec<Hash> = COMPACT[size]
                .iter()
                .map(|&(level, i)| h(NODE_HASHES[level][i]))
                .collect();
            assert_eq!(frontier.hashes(), &compact[..], "frontier of size {size}");
            assert_eq!(
                Frontier::from_parts(size as u64, compact).as_ref(),
                Some(&frontier)
            );
            if size < 8 {
                frontier.push(leaves[size]);
            }
        }
    }

    #[test]
    fn frontier_from_parts_checks_the_hash_count() {
        let x = [7u8; 32];
        assert!(Frontier::from_parts(0, vec![]).is_some());
        assert!(Frontier::from_parts(0, vec![x]).is_none());
        assert!(Frontier::from_parts(5, vec![x]).is_none());
        assert!(Frontier::from_parts(5, vec![x, x, x]).is_none());
        assert!(Frontier::from_parts(5, vec![x, x]).is_some());
        assert!(Frontier::from_parts(u64::MAX, vec![x; 64]).is_some());
    }

    /// (index, size, leaf, proof, root, what was changed).
    type InclusionProbe = (u64, u64, Hash, Vec<Hash>, Hash, String);

    /// (old size, new size, old root, new root, proof, what was changed).
    type ConsistencyProbe = (u64, u64, Hash, Hash, Vec<Hash>, String);

    /// (old size, new size, old root, new root, proof, whether it verifies).
    type ConsistencyCase<'a> = (u64, u64, Hash, Hash, &'a [Hash], bool);

    /// The corruptions of transparency-dev's `corruptInclusionProof`, all of which must fail.
    fn inclusion_corruptions(
        index: u64,
        size: u64,
        leaf: &Hash,
        proof: &[Hash],
        root: &Hash,
    ) -> Vec<InclusionProbe> {
        let p = proof.to_vec();
        let mut out = vec![
            (
                index.wrapping_sub(1),
                size,
                *leaf,
                p.clone(),
                *root,
                "index - 1".into(),
            ),
            (index + 1, size, *leaf, p.clone(), *root, "index + 1".into()),
            (index ^ 2, size, *leaf, p.clone(), *root, "index ^ 2".into()),
            (index, size * 2, *leaf, p.clone(), *root, "size * 2".into()),
            (index, size / 2, *leaf, p.clone(), *root, "size / 2".into()),
            (
                index,
                size,
                leaf_hash(b"WrongLeaf"),
                p.clone(),
                *root,
                "wrong leaf".into(),
            ),
            (
                index,
                size,
                *leaf,
                p.clone(),
                empty_root(),
                "empty root".into(),
            ),
            (
                index,
                size,
                *leaf,
                p.clone(),
                h(SOME_HASH),
                "random root".into(),
            ),
            (
                index,
                size,
                *leaf,
                [&p[..], &[*root]].concat(),
                *root,
                "trailing root".into(),
            ),
            (
                index,
                size,
                *leaf,
                [&[*root], &p[..]].concat(),
                *root,
                "preceding root".into(),
            ),
        ];
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i][0] ^= 8;
            out.push((index, size, *leaf, q, *root, format!("proof[{i}] bit 3")));
        }
        if let Some((_, shorter)) = p.split_last() {
            out.push((
                index,
                size,
                *leaf,
                shorter.to_vec(),
                *root,
                "removed".into(),
            ));
        }
        if p.len() > 1 {
            let q = [&[p[0], h(SOME_HASH)], &p[1..]].concat();
            out.push((index, size, *leaf, q, *root, "inserted".into()));
        }
        out
    }

    #[test]
    fn known_inclusion_proofs() {
        let leaves = vector_leaves();
        for (leaf, size, expected) in INCLUSION {
            let index = leaf - 1;
            let expected = hashes(expected);
            let root = h(ROOTS[size as usize]);
            assert_eq!(
                inclusion_proof(&leaves, index, size),
                Some(expected.clone()),
                "proof of leaf {index} in size {size}"
            );
            let leaf = leaves[index as usize];
            assert!(verify_inclusion(index, size, &leaf, &expected, &root));
            for (i, s, l, p, r, what) in inclusion_corruptions(index, size, &leaf, &expected, &root)
            {
                assert!(
                    !verify_inclusion(i, s, &l, &p, &r),
                    "leaf {index} size {size}: {what} verified"
                );
            }
        }
    }

    #[test]
    fn inclusion_edge_cases() {
        let some = h(SOME_HASH);
        for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
            assert!(!verify_inclusion(index, size, &some, &[], &empty_root()));
        }
        // A one-leaf tree: the root is the leaf and the proof is empty.
        let leaf = leaf_hash(b"data");
        assert!(verify_inclusion(0, 1, &leaf, &[], &leaf));
        assert!(!verify_inclusion(0, 1, &leaf, &[leaf], &leaf));
        let leaves = vector_leaves();
        assert_eq!(inclusion_proof(&leaves, 8, 8), None);
        assert_eq!(inclusion_proof(&leaves, 0, 9), None, "beyond the source");
        assert_eq!(inclusion_proof(&leaves[..0], 0, 1), None, "empty source");
    }

    /// The corruptions of transparency-dev's `corruptConsistencyProof`, all of which must
    /// fail.
    fn consistency_corruptions(
        size1: u64,
        size2: u64,
        root1: &Hash,
        root2: &Hash,
        proof: &[Hash],
    ) -> Vec<ConsistencyProbe> {
        let p = proof.to_vec();
        let (r1, r2) = (*root1, *root2);
        let wrong = leaf_hash(b"WrongRoot");
        let mut out = vec![
            (size1 - 1, size2, r1, r2, p.clone(), "size1 - 1".into()),
            (size1 + 1, size2, r1, r2, p.clone(), "size1 + 1".into()),
            (size1 ^ 2, size2, r1, r2, p.clone(), "size1 ^ 2".into()),
            (size1, size2 * 2, r1, r2, p.clone(), "size2 * 2".into()),
            (size1, size2 / 2, r1, r2, p.clone(), "size2 / 2".into()),
            (size1, size2, wrong, r2, p.clone(), "wrong root1".into()),
            (size1, size2, r1, wrong, p.clone(), "wrong root2".into()),
            (size1, size2, r2, r1, p.clone(), "swapped roots".into()),
            (size1, size2, r1, r2, vec![], "empty proof".into()),
            (
                size1,
                size2,
                r1,
                r2,
                [&p[..], &[r1]].concat(),
                "trailing root1".into(),
            ),
            (
                size1,
                size2,
                r1,
                r2,
                [&p[..], &[r2]].concat(),
                "trailing root2".into(),
            ),
            (
                size1,
                size2,
                r1,
                r2,
                [&[r1], &p[..]].concat(),
                "preceding root1".into(),
            ),
            (
                size1,
                size2,
                r1,
                r2,
                [&[r2], &p[..]].concat(),
                "preceding root2".into(),
            ),
            (
                size1,
                size2,
                r1,
                r2,
                [&[p[0]], &p[..]].concat(),
                "preceding p[0]".into(),
            ),
            (
                size1,
                size2,
                r1,
                r2,
                p[..p.len() - 1].to_vec(),
                "truncated".into(),
            ),
        ];
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i][0] ^= 16;
            out.push((size1, size2, r1, r2, q, format!("proof[{i}] bit 4")));
        }
        out
    }

    #[test]
    fn known_consistency_proofs() {
        let leaves = vector_leaves();
        for (size1, size2, expected) in CONSISTENCY {
            let expected = hashes(expected);
            let (root1, root2) = (h(ROOTS[size1 as usize]), h(ROOTS[size2 as usize]));
            assert_eq!(
                consistency_proof(&leaves, size1, size2),
                Some(expected.clone()),
                "proof {size1} -> {size2}"
            );
            assert!(verify_consistency(size1, size2, &root1, &root2, &expected));
            if expected.is_empty() {
                continue;
            }
            for (s1, s2, r1, r2, p, what) in
                consistency_corruptions(size1, size2, &root1, &root2, &expected)
            {
                assert!(
                    !verify_consistency(s1, s2, &r1, &r2, &p),
                    "{size1} -> {size2}: {what} verified"
                );
            }
        }
    }

    #[test]
    fn consistency_edge_cases() {
        // TestVerifyConsistency of transparency-dev/merkle's proof/verify_test.go.
        let root1 = leaf_hash(b"don't care 1");
        let root2 = leaf_hash(b"don't care 2");
        let empty = empty_root();
        let no_proof: &[Hash] = &[];
        let empty_proof: &[Hash] = &[empty];
        let cases: [ConsistencyCase; 13] = [
            (0, 0, root1, root2, no_proof, false),
            (1, 1, root1, root2, no_proof, false),
            (0, 0, root1, root1, no_proof, true),
            (0, 1, root1, root2, no_proof, true),
            (1, 1, root2, root2, no_proof, true),
            (1, 0, root1, root2, no_proof, false),
            (2, 1, root1, root2, no_proof, false),
            (1, 2, root1, root2, no_proof, false),
            (0, 0, empty, root2, no_proof, false),
            (1, 1, empty, root2, no_proof, false),
            (0, 0, empty, empty, empty_proof, false),
            (0, 1, empty, empty, empty_proof, false),
            (1, 1, empty, empty, empty_proof, false),
        ];
        for (i, (s1, s2, r1, r2, proof, want)) in cases.iter().enumerate() {
            assert_eq!(
                verify_consistency(*s1, *s2, r1, r2, proof),
                *want,
                "case {i}"
            );
        }
        let leaves = vector_leaves();
        assert_eq!(consistency_proof(&leaves, 3, 2), None);
        assert_eq!(consistency_proof(&leaves, 0, 8), Some(vec![]));
        assert_eq!(consistency_proof(&leaves, 0, 0), Some(vec![]));
        assert_eq!(consistency_proof(&leaves, 8, 8), Some(vec![]));
        assert_eq!(consistency_proof(&leaves, 2, 9), None, "beyond the source");
        assert_eq!(consistency_proof(&leaves, 0, 9), None, "beyond the source");
    }

    /// Distinct pseudo-random leaf hashes for a tree, varied by `seed`.
    fn make_leaves(n: u64, seed: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
            .collect()
    }

    #[test]
    fn all_proofs_of_small_trees() {
        for n in 1..=40u64 {
            let leaves = make_leaves(n, 1);
            let mut frontier = Frontier::new();
            for m in 1..=n {
                frontier.push(leaves[m as usize - 1]);
                let root_m = root(&leaves[..m as usize]);
                assert_eq!(frontier.root(), root_m, "frontier at {m}");
                for i in 0..m {
                    let proof = inclusion_proof(&leaves, i, m).expect("in range");
                    assert!(verify_inclusion(i, m, &leaves[i as usize], &proof, &root_m));
                }
            }
            let root_n = root(&leaves);
            for m in 0..=n {
                let proof = consistency_proof(&leaves, m, n).expect("in range");
                let root_m = root(&leaves[..m as usize]);
                assert!(
                    verify_consistency(m, n, &root_m, &root_n, &proof),
                    "{m} -> {n}"
                );
            }
        }
    }

    #[test]
    fn size_is_bound_only_through_the_path_shape() {
        // Documented behaviour of the RFC 9162 algorithms, pinned here: leaf 0's path has
        // the same shape in trees of 3 and 4 leaves, so the size-3 proof and root also
        // verify as "size 4". Signed checkpoints carry size and root together.
        let leaves = vector_leaves();
        let proof = inclusion_proof(&leaves, 0, 3).expect("in range");
        let root3 = h(ROOTS[3]);
        assert!(verify_inclusion(0, 3, &leaves[0], &proof, &root3));
        assert!(verify_inclusion(0, 4, &leaves[0], &proof, &root3));
        assert!(!verify_inclusion(0, 6, &leaves[0], &proof, &root3));
    }

    #[test]
    fn leaf_sources() {
        struct Sparse;
        impl LeafSource for Sparse {
            fn leaf(&self, index: u64) -> Option<Hash> {
                (index != 3).then(|| leaf_hash(&index.to_le_bytes()))
            }
        }
        assert!(inclusion_proof(&Sparse, 0, 8).is_none());
        assert!(inclusion_proof(&Sparse, 0, 3).is_some());
        assert!(subtree_root(&Sparse, 0, 4).is_none());
        assert!(subtree_root(&Sparse, 4, 9).is_some());
        assert!(subtree_root(&Sparse, 5, 4).is_none());
        assert_eq!(subtree_root(&Sparse, 4, 4), Some(empty_root()));
        let leaves = vector_leaves();
        let slice: &[Hash] = &leaves;
        assert_eq!(slice.leaf(7), Some(leaves[7]));
        assert_eq!(slice.leaf(8), None);
        assert_eq!(slice.leaf(u64::MAX), None);
        assert_eq!(inclusion_proof(slice, 5, 8), inclusion_proof(&leaves, 5, 8));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn frontier_matches_root(n in 0u64..300, seed in any::<u64>()) {
            let leaves = make_leaves(n, seed);
            let mut frontier = Frontier::new();
            for leaf in &leaves {
                frontier.push(*leaf);
            }
            prop_assert_eq!(frontier.size(), n);
            prop_assert_eq!(frontier.root(), root(&leaves));
            let reloaded = Frontier::from_parts(n, frontier.hashes().to_vec());
            prop_assert_eq!(reloaded.as_ref(), Some(&frontier));
            // Growing a reloaded frontier gives the same tree as growing the original.
            if let Some(mut reloaded) = reloaded {
                let extra = make_leaves(5, seed ^ 1);
                let mut all = leaves.clone();
                for leaf in extra {
                    reloaded.push(leaf);
                    all.push(leaf);
                }
                prop_assert_eq!(reloaded.root(), root(&all));
            }
        }

        #[test]
        fn inclusion_proofs_verify_and_mutations_fail(
            n in 1u64..300,
            seed in any::<u64>(),
            picks in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<usize>()), 4),
        ) {
            let leaves = make_leaves(n, seed);
            for (pick_size, pick_index, pick_elem) in picks {
                // A tree size up to n and a leaf within it.
                let size = pick_size % n + 1;
                let index = pick_index % size;
                let root_s = root(&leaves[..size as usize]);
                let leaf = leaves[index as usize];
                let proof = inclusion_proof(&leaves, index, size).expect("in range");
                prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root_s));

                // Another leaf, another index, another size.
                let other = leaves[((index + 1) % size) as usize];
                if size > 1 {
                    prop_assert!(!verify_inclusion(index, size, &other, &proof, &root_s));
                    let moved = (index + 1 + pick_elem as u64 % (size - 1)) % size;
                    prop_assert!(!verify_inclusion(moved, size, &leaf, &proof, &root_s));
                }
                // The claimed size is bound only through the path's shape (see the note on
                // verify_inclusion); doubling or halving it always changes the shape.
                prop_assert!(!verify_inclusion(index, size * 2, &leaf, &proof, &root_s));
                prop_assert!(!verify_inclusion(index, size / 2, &leaf, &proof, &root_s));
                prop_assert!(!verify_inclusion(size, size, &leaf, &proof, &root_s));
                let mut bad_leaf = leaf;
                bad_leaf[pick_elem % 32] ^= 1;
                prop_assert!(!verify_inclusion(index, size, &bad_leaf, &proof, &root_s));
                let mut bad_root = root_s;
                bad_root[pick_elem % 32] ^= 0x80;
                prop_assert!(!verify_inclusion(index, size, &leaf, &proof, &bad_root));

                // Any single bit of any proof element.
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][pick_elem % 32] ^= 1 << (pick_elem % 8);
                    prop_assert!(!verify_inclusion(index, size, &leaf, &bad, &root_s));
                }
                // Dropped, added or reordered elements.
                if let Some((_, shorter)) = proof.split_last() {
                    prop_assert!(!verify_inclusion(index, size, &leaf, shorter, &root_s));
                }
                let longer = [&proof[..], &[leaf]].concat();
                prop_assert!(!verify_inclusion(index, size, &leaf, &longer, &root_s));
                if proof.len() > 1 {
                    let mut swapped = proof.clone();
                    swapped.swap(0, proof.len() - 1);
                    prop_assert!(!verify_inclusion(index, size, &leaf, &swapped, &root_s));
                }
            }
        }

        #[test]
        fn consistency_proofs_verify_and_mutations_fail(
            n in 1u64..300,
            seed in any::<u64>(),
            picks in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<usize>()), 4),
        ) {
            let leaves = make_leaves(n, seed);
            // A different log that agrees on nothing.
            let forked = make_leaves(n, seed.wrapping_add(1));
            for (pick_new, pick_old, pick_elem) in picks {
                let new_size = pick_new % n + 1;
                let old_size = pick_old % (new_size + 1);
                let new_root = root(&leaves[..new_size as usize]);
                let old_root = root(&leaves[..old_size as usize]);
                let proof = consistency_proof(&leaves, old_size, new_size).expect("in range");
                prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof));
                if old_size == 0 {
                    prop_assert!(proof.is_empty());
                    continue;
                }

                // The old root of another tree of the same size, or of this tree at
                // another size.
                let fork_root = root(&forked[..old_size as usize]);
                let holds = |old: &Hash, new: &Hash, proof: &[Hash]| {
                    verify_consistency(old_size, new_size, old, new, proof)
                };
                prop_assert!(!holds(&fork_root, &new_root, &proof));
                // A log that rewrote one leaf below old_size.
                let mut rewritten = leaves[..new_size as usize].to_vec();
                let victim = pick_elem % old_size as usize;
                rewritten[victim][0] ^= 1;
                prop_assert!(!holds(&old_root, &root(&rewritten), &proof));
                if old_size > 1 {
                    let shorter_root = root(&leaves[..old_size as usize - 1]);
                    prop_assert!(!holds(&shorter_root, &new_root, &proof));
                }
                if old_size == new_size {
                    prop_assert!(proof.is_empty());
                    continue;
                }
                let mut bad_new = new_root;
                bad_new[pick_elem % 32] ^= 1;
                prop_assert!(!holds(&old_root, &bad_new, &proof));
                prop_assert!(!verify_consistency(
                    old_size + 1, new_size, &old_root, &new_root, &proof
                ));
                prop_assert!(!verify_consistency(
                    old_size, new_size * 2, &old_root, &new_root, &proof
                ));

                // Any single bit of any proof element.
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][pick_elem % 32] ^= 1 << (pick_elem % 8);
                    prop_assert!(!holds(&old_root, &new_root, &bad));
                }
                // Dropped or added elements.
                prop_assert!(!holds(&old_root, &new_root, &[]));
                if let Some((_, shorter)) = proof.split_last() {
                    prop_assert!(!holds(&old_root, &new_root, shorter));
                }
                let longer = [&proof[..], &[new_root]].concat();
                prop_assert!(!holds(&old_root, &new_root, &longer));
            }
        }
    }
}
