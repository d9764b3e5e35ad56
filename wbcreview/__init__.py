"""wbcreview: a label-review studio for the WBCBench 2026 white-blood-cell dataset."""

__version__ = "0.1.0"
