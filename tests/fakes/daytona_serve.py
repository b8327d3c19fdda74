"""Serve the fake Daytona API from its own process (benchmarks, trying the app by hand).

``python -m tests.fakes.daytona_serve [IMAGE]`` prints one JSON line with ``api_url`` and
``api_key``, serves until its stdin closes, then removes its containers. A separate process
keeps the fake's Python work off the measured process (the real daemon is not Python).
"""

from __future__ import annotations

import json
import sys

from tests.docker_image import ensure_image
from tests.fakes.daytona_api import FakeDaytona


def main() -> None:
    image = sys.argv[1] if len(sys.argv) > 1 else ensure_image()
    with FakeDaytona(image=image) as fake:
        print(json.dumps({"api_url": fake.api_url, "api_key": fake.api_key}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
