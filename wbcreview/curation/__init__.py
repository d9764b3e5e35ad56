"""Correction lists: final decisions out (export) and onto a copy (apply)."""
