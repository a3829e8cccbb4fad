"""The one atomic writer: a failed write leaves the old file and no temporary; JSON is always valid."""
import json, math, pytest
from pathlib import Path
from genomic_ulmfit.io.atomic import atomic_open, atomic_dir, write_json, atomic_path

def test_failure_keeps_old(tmp_path):
    p = tmp_path / "a.txt"; p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as fh:
            fh.write("new"); raise RuntimeError("x")
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]

def test_dir_replace(tmp_path):
    d = tmp_path / "d"; d.mkdir(); (d / "x").write_text("1")
    with atomic_dir(d) as t: (t / "y").write_text("2")
    assert [x.name for x in d.iterdir()] == ["y"] and sorted(x.name for x in tmp_path.iterdir()) == ["d"]

def test_json_nan(tmp_path):
    write_json(tmp_path / "m.json", {"a": float("nan"), "b": [1.0, float("inf")]})
    assert json.loads((tmp_path / "m.json").read_text(), parse_constant=lambda c: pytest.fail(c)) == {"a": None, "b": [1.0, None]}

def test_gz(tmp_path):
    import gzip
    with atomic_open(tmp_path / "x.tsv.gz") as fh: fh.write("a\tb\n")
    assert gzip.open(tmp_path / "x.tsv.gz", "rt").read() == "a\tb\n"
