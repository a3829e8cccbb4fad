"""k-mer tokenization: the seed's examples, the fixed vocabulary, bad input."""
import numpy as np
import pytest

from genomic_ulmfit.kmers import (PAD_ID, UNK_ID, KmerTokenizer, SequenceError, n_tokens)

SEED_SEQ = "ATCGCGTACGATCCG"


@pytest.mark.parametrize("stride, expected", [
    (1, "ATCG TCGC CGCG GCGT CGTA GTAC TACG ACGA CGAT GATC ATCC TCCG"),
    (2, "ATCG CGCG CGTA TACG CGAT ATCC"),
    (3, "ATCG GCGT TACG GATC"),
    (4, "ATCG CGTA CGAT"),
])
def test_seed_stride_examples(stride, expected):
    assert " ".join(KmerTokenizer(4, stride).tokenize(SEED_SEQ)) == expected


@pytest.mark.parametrize("k, expected", [
    (3, "ATC GCG TAC GAT CCG"), (4, "ATCG CGTA CGAT"), (5, "ATCGC GTACG ATCCG")])
def test_seed_kmer_examples_truncate_to_last_whole_kmer(k, expected):
    assert " ".join(KmerTokenizer(k, k).tokenize(SEED_SEQ)) == expected


def test_seed_numericalization_example_tokens():
    # methods section 1.2: k=3, stride 2
    assert KmerTokenizer(3, 2).tokenize(SEED_SEQ) == "ATC CGC CGT TAC CGA ATC CCG".split()


@pytest.mark.parametrize("length", [3, 4, 5, 17, 100, 151])
@pytest.mark.parametrize("k, stride", [(1, 1), (3, 1), (4, 3), (5, 2), (8, 3)])
def test_token_count_formula(length, k, stride):
    seq = "ACGT" * 40
    seq = seq[:length]
    if length < k:
        return
    ids = KmerTokenizer(k, stride).encode(seq)
    assert len(ids) == (length - k) // stride + 1 == n_tokens(length, k, stride)


def test_ids_match_a_plain_python_slicer():
    rng = np.random.default_rng(1)
    scattered = "".join(rng.choice(list("ACGTN"), 500, p=[0.24, 0.24, 0.24, 0.24, 0.04]))
    runs = "N" * 7 + "ACGTTGCA" * 20 + "NNNNNNNNNNNN" + "GATTACA" * 15 + "R" + "CCGGA" * 9 + "NN"
    for seq in (scattered, runs):
        for k in range(1, 9):
            for s in range(1, k + 1):
                tok = KmerTokenizer(k, s)
                index = {kmer: i for i, kmer in enumerate(tok.vocab)}
                expected = [index.get(seq[i:i + k], UNK_ID) for i in range(0, len(seq) - k + 1, s)]
                assert tok.encode(seq).tolist() == expected, (k, s)


def test_vocabulary_is_fixed_by_k():
    a, b = KmerTokenizer(5, 1), KmerTokenizer(5, 3)
    assert a.vocab == b.vocab and a.vocab_size == 4**5 + 2
    assert a.vocab[UNK_ID] == "xxunk" and a.vocab[PAD_ID] == "xxpad"
    assert a.vocab[2] == "AAAAA" and a.vocab[-1] == "TTTTT"
    # the same k-mer gets the same id whatever corpus it comes from
    assert a.encode("GATTACA")[0] == b.encode("GATTACAGGG")[0]


def test_compact_dtypes():
    assert KmerTokenizer(7, 1).encode("ACGTACGT").dtype == np.uint16
    assert KmerTokenizer(8, 1).encode("ACGTACGT").dtype == np.uint32
    assert KmerTokenizer(8, 1).encode("TTTTTTTT")[0] == 4**8 + 1


def test_soft_masked_lowercase_and_rna():
    tok = KmerTokenizer(3, 1)
    assert tok.encode("acgu").tolist() == tok.encode("ACGT").tolist()


def test_ambiguity_codes_become_unknown():
    tok = KmerTokenizer(3, 1)
    assert tok.tokenize("ACGNTA") == ["ACG", "xxunk", "xxunk", "xxunk"]
    assert tok.tokenize("ACGRTA")[1] == "xxunk"


def test_characters_outside_iupac_name_the_record():
    with pytest.raises(SequenceError, match=r"rec7.*'X' at position 4"):
        KmerTokenizer(3, 1).encode("ACGXT", "rec7")


def test_empty_and_short_records_are_errors():
    with pytest.raises(SequenceError, match="rec1: sequence is empty"):
        KmerTokenizer(3, 1).encode("", "rec1")
    with pytest.raises(SequenceError, match="rec2: sequence has 2 bases, fewer than k=3"):
        KmerTokenizer(3, 1).encode("AC", "rec2")


@pytest.mark.parametrize("k, stride", [(0, 1), (9, 1), (3, 4), (3, 0)])
def test_invalid_tokenizer_settings(k, stride):
    with pytest.raises(ValueError):
        KmerTokenizer(k, stride)
