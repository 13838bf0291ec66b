"""flask-cache-coherence: do gunicorn workers see each other's cache writes?"""
