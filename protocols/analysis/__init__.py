"""Technique analyses, kept beside their procedures: cycle summary, plots, and more."""

from protocols.analysis.cycles import CycleSummary, cycle_summary

__all__ = ["CycleSummary", "cycle_summary"]
