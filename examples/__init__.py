"""Examples that use the consent service: a demo shop and the script that runs it beside the service."""
