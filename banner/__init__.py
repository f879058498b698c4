"""The banner's source (src/*.js split by concern, banner.css), shipped as package data so that an
installed service can build its banner; `python -m banner.build` builds and measures it."""
