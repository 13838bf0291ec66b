"""Reports: one run directory with JSON, Markdown and HTML, plus a terminal table."""

from .matrix import matrix_rows, terminal_table
from .model import SCHEMA, RunReport, load
from .summary import text as summary_text
from .writer import Rendered, render, write_run

__all__ = ["SCHEMA", "Rendered", "RunReport", "load", "matrix_rows", "render",
           "summary_text", "terminal_table", "write_run"]
