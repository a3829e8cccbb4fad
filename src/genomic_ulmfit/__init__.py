"""Genomic-ULMFiT: genomic sequence classification by transfer learning."""

__version__ = "0.1.0"
