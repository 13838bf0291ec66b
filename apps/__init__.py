"""Sample Flask apps the harness serves under gunicorn."""
