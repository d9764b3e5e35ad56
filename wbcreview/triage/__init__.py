"""Finding likely label errors: predictions, the baseline, the suspect ranking, scores."""
