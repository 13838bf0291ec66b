"""Checkers: judge a history and return a verdict with evidence.

Each checker is a function ``check(history, *, workers) -> Verdict``; it
reads only the history, so the same history always gives the same verdict.
"""
