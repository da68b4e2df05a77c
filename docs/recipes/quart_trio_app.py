"""The Quart recipe on trio, through quart-trio (docs/recipes/quart.md).

Run it with ``hypercorn --worker-class trio --workers 4 quart_trio_app:app``.
"""

from __future__ import annotations

from quart_trio import QuartTrio

from quart_app import create_app

app = create_app(QuartTrio)
