"""Pure integrity logic: canonical JSON, the audit hash chain, signed heads, receipts, the
signed results envelope and the national merge. No Flask, no database, no cat_engine:
a third party's verifier can be written against these modules and docs/integrity.md alone.
"""
