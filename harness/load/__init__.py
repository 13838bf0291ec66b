"""Load: the seed's ``wrk`` measurement of its cached endpoint (see :mod:`.wrk`)."""
