"""Processes under test: backend servers, gunicorn masters and their workers."""
