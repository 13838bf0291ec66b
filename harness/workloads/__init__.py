"""Generators: which operations to send to which worker, and when."""
