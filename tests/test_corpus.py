"""LM corpora: streaming FASTA, region split without leaks, N handling."""
import gzip

import numpy as np
import pytest

from genomic_ulmfit.corpus import LINE_BREAKS, Corpus, build_corpus, iter_sequence_blocks
from genomic_ulmfit.fasta import read_fasta
from genomic_ulmfit.kmers import UNK_ID, KmerTokenizer

ECOLI_FNA = ("ncbi/genomes/all/GCF/000/005/845/GCF_000005845.2_ASM584v2/"
             "GCF_000005845.2_ASM584v2_genomic.fna.gz")


def write_fasta(path, records, width=60):
    with open(path, "w") as fh:
        for name, seq in records:
            fh.write(f">{name} some description\n")
            fh.writelines(seq[i:i + width] + "\n" for i in range(0, len(seq), width))


def test_streamed_blocks_equal_the_records(tmp_path):
    rng = np.random.default_rng(0)
    records = [(f"chr{i}", "".join(rng.choice(list("ACGTN"), n))) for i, n in enumerate([5000, 1, 777])]
    path = tmp_path / "g.fa.gz"
    with gzip.open(path, "wt") as fh:
        for name, seq in records:
            fh.write(f">{name}\n" + "\n".join(seq[i:i + 70] for i in range(0, len(seq), 70)) + "\n")
    joined = {}
    for name, piece in iter_sequence_blocks(path, block_bytes=333):
        joined[name] = joined.get(name, b"") + piece.translate(None, LINE_BREAKS)
    assert {k: v.decode() for k, v in joined.items()} == dict(records)


def test_fasta_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\n>r1\nACGT\n")
    with pytest.raises(ValueError, match="bad.fa: sequence data before the first"):
        list(iter_sequence_blocks(bad))
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.fa: no FASTA record"):
        list(iter_sequence_blocks(empty))


def test_non_iupac_character_names_record(tmp_path):
    path = tmp_path / "g.fa"
    write_fasta(path, [("ok", "ACGT" * 100), ("broken", "ACGT" * 10 + "J" + "ACGT")])
    with pytest.raises(ValueError, match="record broken: character 'J'"):
        build_corpus([path], tmp_path / "c", KmerTokenizer(3, 1), region_bp=1000)
    assert not (tmp_path / "c").exists()


def test_n_runs_split_documents_and_short_runs_are_dropped(tmp_path):
    rng = np.random.default_rng(1)
    a, b, c = ("".join(rng.choice(list("ACGT"), n)) for n in (3000, 40, 3000))
    path = tmp_path / "g.fa"
    other = "".join(rng.choice(list("ACGT"), 5000))
    write_fasta(path, [("r", a + "N" * 500 + b + "NN" + c), ("other", other)])
    tok = KmerTokenizer(3, 1)
    # one region per record; with valid_fraction 0.5 one goes to each split
    meta = build_corpus([path], tmp_path / "c", tok, region_bp=100_000, valid_fraction=0.5,
                        min_doc_tokens=64)
    corpus = Corpus.open(tmp_path / "c")
    docs = corpus.documents("train") + corpus.documents("valid")
    assert sorted(len(d) for d in docs) == [2998, 2998, 4998]  # the 40 bp island is dropped
    assert all((d != UNK_ID).all() for d in docs)
    assert meta["train_tokens"] + meta["valid_tokens"] == 2 * 2998 + 4998


@pytest.fixture(scope="module")
def ecoli_corpus(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "ecoli_k5s2"
    meta = build_corpus([shared_data / ECOLI_FNA], out, KmerTokenizer(5, 2), region_bp=100_000)
    return out, meta


def test_real_genome_corpus_split_by_region(shared_data, ecoli_corpus):
    out, meta = ecoli_corpus
    (name, genome), = list(read_fasta(shared_data / ECOLI_FNA))
    assert meta["bases"] == len(genome) == 4_641_652
    assert meta["regions"]["valid"] >= 4 and meta["regions"]["train"] >= 40
    corpus = Corpus.open(out)
    tok = corpus.tokenizer
    # every document is exactly the tokenization of one 100 kb region of the genome
    regions = [tok.encode(genome[i:i + 100_000]) for i in range(0, len(genome), 100_000)]
    region_of = {r.tobytes(): i for i, r in enumerate(regions)}
    train = {region_of[d.tobytes()] for d in corpus.documents("train")}
    valid = {region_of[d.tobytes()] for d in corpus.documents("valid")}
    assert not train & valid and len(train | valid) == len(regions)
    assert np.load(out / "train.npy", mmap_mode="r").dtype == np.uint16


def test_same_seed_same_corpus(shared_data, ecoli_corpus, tmp_path):
    out, meta = ecoli_corpus
    again = build_corpus([shared_data / ECOLI_FNA], tmp_path / "again", KmerTokenizer(5, 2))
    assert again["regions"] == meta["regions"]
    assert (np.load(tmp_path / "again" / "valid.npy") == np.load(out / "valid.npy")).all()


def test_max_bases_keeps_the_start(shared_data, tmp_path):
    meta = build_corpus([shared_data / ECOLI_FNA], tmp_path / "c", KmerTokenizer(4, 4),
                        region_bp=50_000, max_bases=200_000)
    assert meta["bases"] == 200_000 and meta["regions"]["train"] + meta["regions"]["valid"] == 4


def test_both_strands_adds_reverse_complements_to_the_same_split(tmp_path):
    from genomic_ulmfit.fasta import reverse_complement
    rng = np.random.default_rng(2)
    seqs = [("a", "".join(rng.choice(list("ACGT"), 4000))), ("b", "".join(rng.choice(list("ACGT"), 3000)))]
    path = tmp_path / "g.fa"
    write_fasta(path, seqs)
    tok = KmerTokenizer(4, 2)
    build_corpus([path], tmp_path / "c", tok, region_bp=100_000, valid_fraction=0.5, both_strands=True)
    corpus = Corpus.open(tmp_path / "c")
    for split in ("train", "valid"):
        docs = [d.tolist() for d in corpus.documents(split)]
        assert len(docs) == 2
        fwd = next(s for _, s in seqs if tok.encode(s).tolist() == docs[0])
        assert docs[1] == tok.encode(reverse_complement(fwd)).tolist()


@pytest.mark.parametrize("block_bytes", [1, 2, 7, 64, 4096])
def test_block_boundaries_anywhere(tmp_path, block_bytes):
    """Headers cut across blocks, CRLF, long headers, a final header without newline."""
    text = (">r1 a long description with > inside\r\nACGT\r\nAC\r\n>r2\nGG\nTTA\n\n"
            ">r3 " + "x" * 300 + "\nACGTNNAC\n>r4")
    path = tmp_path / "b.fa"
    path.write_bytes(text.encode())
    joined = {}
    for name, piece in iter_sequence_blocks(path, block_bytes=block_bytes):
        joined[name] = joined.get(name, b"") + piece.translate(None, LINE_BREAKS)
    assert joined == {"r1": b"ACGTAC", "r2": b"GGTTA", "r3": b"ACGTNNAC", "r4": b""}


def test_gt_inside_a_sequence_line_is_an_error_at_any_block_size(tmp_path):
    path = tmp_path / "b.fa"
    path.write_text(">r1\nACGT>ACGT\n")
    for block_bytes in (1, 4, 5, 100):
        with pytest.raises(ValueError, match="'>' inside a sequence line of record 'r1'"):
            list(iter_sequence_blocks(path, block_bytes=block_bytes))


def test_markov_baseline_spans_random_to_deterministic(tmp_path):
    """iid bases: no k-mer transition helps (baseline at the stride prior); a
    periodic genome: the next bases follow from the k-mer (baseline near 0)."""
    rng = np.random.default_rng(0)
    iid = "".join(rng.choice(list("ACGT"), 400_000))
    periodic = "ACGTTGCAAG" * 40_000
    tok = KmerTokenizer(5, 2)
    losses = {}
    for name, seq in (("iid", iid), ("periodic", periodic)):
        write_fasta(tmp_path / f"{name}.fa", [(name, seq)])
        build_corpus([tmp_path / f"{name}.fa"], tmp_path / name, tok, region_bp=10_000, min_doc_tokens=1)
        losses[name] = Corpus.open(tmp_path / name).markov_baseline_loss()
    prior = 2 * np.log(4)
    assert prior - 0.01 < losses["iid"] < prior + 0.1  # counting noise only costs
    assert losses["periodic"] < 0.01


def test_markov_baseline_of_the_real_genome_beats_the_prior(shared_data, ecoli_corpus):
    loss = Corpus.open(ecoli_corpus[0]).markov_baseline_loss()
    prior = 2 * np.log(4)  # k=5, stride 2
    assert 0.03 < prior - loss < 0.3  # genomes are nearly incompressible, but not iid


def test_genome_ensemble_records_per_genome_provenance(shared_data, tmp_path):
    """Several genomes make one corpus; meta.json and {split}.sources.npy say which genome
    every document and token came from."""
    fastas = [shared_data / ECOLI_FNA, shared_data / "model_organisms" / "A.thaliana.fa.gz",
              shared_data / "model_organisms" / "C.elegans.fa.gz"]
    names = ["ecoli", "athaliana", "celegans"]
    meta = build_corpus(fastas, tmp_path / "c", KmerTokenizer(3, 3), region_bp=20_000,
                        max_bases=300_000, names=names)
    corpus = Corpus.open(tmp_path / "c")
    assert [s["name"] for s in meta["sources"]] == names
    for split in ("train", "valid"):
        per_doc = corpus.document_sources(split)
        docs = corpus.documents(split)
        assert len(per_doc) == len(docs) == meta[f"{split}_documents"]
        assert set(per_doc) == set(names)  # every genome reaches both splits
        for s in meta["sources"]:
            mine = [len(d) for d, n in zip(docs, per_doc) if n == s["name"]]
            assert s[f"{split}_tokens"] == sum(mine) > 0
            assert s[f"{split}_documents"] == len(mine)
        assert sum(s[f"{split}_tokens"] for s in meta["sources"]) == meta[f"{split}_tokens"]
    # documents come in file order: the first genome's documents before the second's
    order = [names.index(n) for n in corpus.document_sources("train")]
    assert order == sorted(order)
    with pytest.raises(ValueError, match="one distinct name per FASTA"):
        build_corpus(fastas, tmp_path / "d", KmerTokenizer(3, 3), names=["a", "a", "b"])


def test_records_filter_keeps_the_assembled_chromosomes(tmp_path):
    """The paper's human corpus: only NC_ records (no unplaced scaffolds, no alt loci)."""
    rng = np.random.default_rng(3)
    seqs = {name: "".join(rng.choice(list("ACGT"), 3000))
            for name in ("NC_000001.11", "NT_187361.1", "NC_000002.12", "NW_025791756.1")}
    path = tmp_path / "g.fa"
    write_fasta(path, seqs.items())
    tok = KmerTokenizer(3, 3)
    build_corpus([path], tmp_path / "c", tok, region_bp=1000, valid_fraction=0.5, records="^NC_")
    corpus = Corpus.open(tmp_path / "c")
    source = corpus.meta["sources"][0]
    assert (source["records"], source["records_skipped"], source["bases"]) == (2, 2, 6000)
    kept = sorted(tok.encode(seqs[n][i:i + 1000]).tolist() for n in ("NC_000001.11", "NC_000002.12")
                  for i in range(0, 3000, 1000))
    got = sorted(d.tolist() for split in ("train", "valid") for d in corpus.documents(split))
    assert got == kept
