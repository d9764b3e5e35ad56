"""The demo copy: painted cells, the release's degradations, simulated votes."""
