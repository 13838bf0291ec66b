"""``app`` is not callable: gunicorn refuses it before any Flask check."""

app = 42
