"""The history: the one contract between the workloads that write it and the checkers that read it.

:mod:`.names` holds the op vocabulary (completion types, cache ops and what
each does, phases, roles), :mod:`.faults` the nemesis's actions and their
windows, and :mod:`.ops` the operations, the history and its file format.
"""
