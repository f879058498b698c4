"""RFC 6962 tree hashing against the Certificate Transparency reference vectors (RFC 6962/9162
structure: 0 to 8 leaves, odd sizes carried up unpaired), and inclusion proofs for every leaf of
every tree up to 40 leaves."""

from __future__ import annotations

import pytest

from consent_service.compliance import merkle

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]
# (leaf index, tree size, audit path) from the same reference data.
PROOFS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (0, 1, []),
]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_the_reference(size):
    assert merkle.root(HASHES[:size]).hex() == ROOTS[size]


def test_leaf_and_node_hashing_are_domain_separated():
    assert merkle.leaf_hash(b"").hex() == ROOTS[1]
    assert merkle.node_hash(HASHES[0], HASHES[1]).hex() == ROOTS[2]
    # A two-leaf tree's root is not the leaf hash of its children's concatenation.
    assert merkle.root(HASHES[:2]) != merkle.leaf_hash(HASHES[0] + HASHES[1])


@pytest.mark.parametrize(("index", "size", "path"), PROOFS)
def test_inclusion_proofs_match_the_reference(index, size, path):
    assert [node.hex() for node in merkle.inclusion_proof(index, HASHES[:size])] == path
    assert merkle.verify_inclusion(index, size, HASHES[index], [bytes.fromhex(n) for n in path],
                                   bytes.fromhex(ROOTS[size]))


def test_every_leaf_of_every_tree_proves_and_nothing_else_does():
    for size in range(1, 41):
        leaves = [merkle.leaf_hash(bytes([i, size])) for i in range(size)]
        top = merkle.root(leaves)
        for index in range(size):
            path = merkle.inclusion_proof(index, leaves)
            assert len(path) <= size.bit_length()
            assert merkle.verify_inclusion(index, size, leaves[index], path, top)
            if size > 1:
                assert not merkle.verify_inclusion(index, size, leaves[(index + 1) % size], path, top)
                assert not merkle.verify_inclusion((index + 1) % size, size, leaves[index], path, top)
                assert not merkle.verify_inclusion(index, size, leaves[index], path[:-1], top)
                assert not merkle.verify_inclusion(index, size, leaves[index], path + [top], top)
            flipped = [bytes([node[0] ^ 1]) + node[1:] for node in path]
            if path:
                assert not merkle.verify_inclusion(index, size, leaves[index], flipped, top)


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (0, 0)])
def test_impossible_positions_prove_nothing(index, size):
    assert merkle.root_from_proof(index, size, HASHES[0], []) is None
    with pytest.raises(IndexError):
        merkle.inclusion_proof(index, HASHES[:size])
