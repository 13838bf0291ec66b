"""Scenario files are plain pytest tests; the harness plugin provides fixtures."""
