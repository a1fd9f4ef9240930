"""Webhooks: endpoints that hear of the tenant's events, and the log of their deliveries."""
