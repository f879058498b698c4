"""Consents: recording a visitor's choice with its proof, the one description of a record's fields,
the one-statement store, the cache of current choices, and reading a visitor's current consent."""
