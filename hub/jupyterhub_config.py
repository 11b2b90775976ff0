"""JupyterHub for a workshop room on one machine: `make hub`.

Settings come from the environment (see hub/workshop_hub.py and hub/README.md):
WORKSHOP_PASSWORD, HUB_IP, HUB_PORT, HUB_DIR, HUB_MEM_LIMIT, HUB_NICE,
WORKSHOP_INSTRUCTORS and WORKSHOP_ADMIN_PASSWORD.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workshop_hub import Settings, configure  # noqa: E402

settings = Settings.from_env()
configure(c, settings)  # noqa: F821  (c is JupyterHub's config object)
print(f"workshop hub: http://{settings.ip}:{settings.port}/  "
      f"password: {settings.password}  state: {settings.state}", file=sys.stderr)
