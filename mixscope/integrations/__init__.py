"""Integrations of the recorder with training frameworks (optional extras)."""
