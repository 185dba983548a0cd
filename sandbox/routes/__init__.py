"""Intercom's REST resources, one module each; ``sandbox.app`` assembles their routes."""
