"""The embeddable banner: its JavaScript sources (``src/``, split by concern), its CSS, and the
builder that inlines a site's configuration and compresses the result (``bundle.py``)."""
