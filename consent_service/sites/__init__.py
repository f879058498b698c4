"""Sites: their declarations (TOML files in version control), their synced state in the database,
and the policy versions visitors are shown."""
