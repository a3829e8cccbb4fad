"""Builders of the labelled classification data sets (see genomic_ulmfit.datasets.ecoli)."""
