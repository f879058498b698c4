"""Compliance: what privacy officers and auditors use. Seals and their verification, the export,
retention, a visitor's own data, statistics and the access log. Each audited operation writes its
own access-log entry, so the API and the CLI only call it."""
