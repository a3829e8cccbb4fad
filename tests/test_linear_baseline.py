"""benchmarks/linear_baseline.py on the end-to-end run's real E. coli dataset: the
reference line of the README's E. coli tables."""
import sys

import pytest

from workflow_run import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import linear_baseline  # noqa: E402


@pytest.mark.slow
def test_position_tells_the_label_more_than_composition(e2e):
    from genomic_ulmfit.datasets.common import read_dataset
    df = read_dataset(e2e[0] / "results" / "datasets" / "ecoli_promoters.tsv")
    cs = [0.01, 0.1, 1]
    both = linear_baseline.fit_and_score(df, None, 0, 4, cs)
    onehot = linear_baseline.fit_and_score(df, None, 0, 4, cs, "onehot")
    kmers = linear_baseline.fit_and_score(df, None, 0, 4, cs, "kmers")
    few = linear_baseline.fit_and_score(df, 300, 0, 4, cs)
    assert both[0] in cs and 0.5 <= both[1] <= 1
    # chance is 0.5 on the balanced test split; the start codon's fixed offset gives it away
    assert both[2] > 0.9 and onehot[2] > 0.9 and few[2] > 0.8
    assert kmers[2] < onehot[2] - 0.05
    assert linear_baseline.features(["ACGTN", "AC"], 2).shape == (2, 5 * 4 + 16)
