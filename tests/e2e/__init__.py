"""End-to-end tests (a package, so its conftest is `e2e.conftest` and not the bare `conftest` module
other suites import from)."""
