"""Exams, randomized forms, scoring rules, IRT and psychometrics.

Pure functions over numpy and plain data: no Flask, no database, no sockets, no I/O.
"""
