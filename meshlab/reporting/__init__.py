"""Report outputs: atomic writers, charts, provenance and machine calibration."""

from meshlab.reporting import calibration, evidence, provenance, writers

__all__ = ["calibration", "evidence", "provenance", "writers"]
