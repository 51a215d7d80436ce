"""Reporters: turn findings into text for people or machines."""
