"""Reports: one run directory with JSON and Markdown, plus a terminal table."""

from .matrix import matrix_rows, terminal_table
from .writer import SCHEMA, write_run

__all__ = ["SCHEMA", "matrix_rows", "terminal_table", "write_run"]
