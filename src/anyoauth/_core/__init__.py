"""The sans-IO core: state machine, redirect reading, tokens and errors.

Nothing in this package performs IO or imports anyio or httpx; it takes URLs,
times and response bytes and returns requests to send and tokens.
"""
