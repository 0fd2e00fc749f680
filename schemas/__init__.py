"""Shared contract of the Scoreboard services: record models, topic names, periods, the action catalog.

This is the only package the three services share; nothing here imports a service.
"""
