"""Benchmarks of the Scoreboard pipeline, each measured as a ratio against its reference in the same run.

``python -m bench`` (``make bench``) runs the five of issue 5 and prints a table; ``--smoke`` runs tiny sizes
in seconds (used by ``make test`` so this code cannot rot) and checks only that figures are produced.
"""
