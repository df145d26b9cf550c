"""The support console: every organisation at a glance, one organisation's steps and timeline, retry."""
