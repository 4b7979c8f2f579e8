"""Hostile inputs for the fuzz suite, and the raw wire client that sends them."""
