"""The hardening suite: faults, hostile input, secrets, transport rules, crashes (issue #7)."""
