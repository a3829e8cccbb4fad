from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from genomic_ulmfit.fasta import iter_fasta_records, read_fasta, reverse_complement, write_fasta


def test_read_plain_and_gzip_detected_by_magic(tmp_path: Path) -> None:
    text = ">chr1 first one\nACGT\nacgt\n>chr2\nNNRY\n"
    plain = tmp_path / "a.fa"
    plain.write_text(text)
    # Gzip content behind a suffix that says otherwise: detection must use the bytes.
    disguised = tmp_path / "b.fa"
    disguised.write_bytes(gzip.compress(text.encode()))
    expected = [("chr1", "ACGTacgt"), ("chr2", "NNRY")]
    assert list(read_fasta(plain)) == expected
    assert list(read_fasta(disguised)) == expected
    headers = [r.header for r in iter_fasta_records(plain)]
    assert headers == ["chr1 first one", "chr2"]


def test_write_roundtrip_plain_and_gz(tmp_path: Path) -> None:
    records = [("s1 desc", "ACGT" * 40), ("s2", "A")]
    for name in ("out.fa", "out.fa.gz"):
        path = tmp_path / name
        assert write_fasta(records, path, line_width=60) == 2
        assert list(read_fasta(path)) == [("s1", "ACGT" * 40), ("s2", "A")]
    assert max(len(line) for line in (tmp_path / "out.fa").read_text().splitlines()) == 60
    assert gzip.open(tmp_path / "out.fa.gz").read(2) == b">s"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_empty_record_names_file_and_record(tmp_path: Path) -> None:
    path = tmp_path / "bad.fa"
    path.write_text(">ok\nACGT\n>empty_one\n>next\nAC\n")
    with pytest.raises(ValueError, match=r"bad\.fa.*empty_one"):
        list(read_fasta(path))


def test_file_without_records(tmp_path: Path) -> None:
    path = tmp_path / "none.fa"
    path.write_text("ACGT\nACGT\n")
    with pytest.raises(ValueError, match=r"none\.fa.*no FASTA record"):
        list(read_fasta(path))
    empty = tmp_path / "empty.fa.gz"
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(ValueError, match="empty.fa.gz"):
        list(read_fasta(empty))


def test_write_rejects_empty_sequence(tmp_path: Path) -> None:
    path = tmp_path / "x.fa"
    with pytest.raises(ValueError, match="'s2'"):
        write_fasta([("s1", "AC"), ("s2", "")], path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        ("ACGT", "ACGT"),
        ("AAACCg", "cGGTTT"),
        ("RYKMSWBDHVN", "NBDHVWSKMRY"),
        ("acgtn", "nacgt"),
        ("", ""),
    ],
)
def test_reverse_complement(seq: str, expected: str) -> None:
    assert reverse_complement(seq) == expected
    assert reverse_complement(reverse_complement(seq)) == seq


def test_read_real_genome_fna(shared_data: Path) -> None:
    fna = next((shared_data / "ncbi").rglob("*_genomic.fna.gz"))
    records = list(read_fasta(fna))
    assert [name for name, _ in records] == ["NC_000913.3"]
    assert len(records[0][1]) == 4_641_652


def test_trailing_blanks_and_windows_line_ends_are_read_as_the_bases_alone(tmp_path):
    path = tmp_path / "sloppy.fa"
    path.write_bytes(b">r1 from a spreadsheet\r\nACGT  \r\nGG\t\r\n\r\n>r2\nTTTT \n")
    assert [(r.name, r.sequence) for r in iter_fasta_records(path)] == [("r1", "ACGTGG"), ("r2", "TTTT")]
