"""A simulated Microsoft 365 tenant (Entra ID, Graph, Exchange admin API, EWS) served over HTTPS on loopback.

Standalone: it imports nothing from Onramp (no Django). See README.md and WIRE.md.
"""
