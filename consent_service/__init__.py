"""A consent and cookie-management service: records every visitor's choice as proof, issues signed
preferences a shop's backend verifies locally, serves the banner and exports for auditors.

Importing the package loads nothing else: the service starts from `consent_service.app.create_app`,
and a shop's backend imports `consent_service.shop`."""

__version__ = "0.2.0"
