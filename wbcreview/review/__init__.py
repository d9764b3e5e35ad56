"""Reviewing labels: the decision store, queues, consensus, calibration, users."""
