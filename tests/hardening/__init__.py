"""The hardening suite: faults, hostile input, secrets, transport rules, crashes; each
test is cited by the rule of docs/security.md it proves."""
