"""Potentiostat drivers."""
