"""A foreign app whose import fails with a message over three lines."""

raise RuntimeError("first line\nsecond line\nthird line")
