"""Transports: each turns platform updates into engine events and renders replies."""
