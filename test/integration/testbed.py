"""Reading the registry testbed's files (test/testbed/): registry.env and images.txt."""

import os
import urllib.request


def read_env(path):
    """registry.env as a dict: one `export NAME=value` line per variable."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export "):
                name, _, value = line[len("export "):].partition("=")
                values[name] = value.strip("'\"")
    return values


def registry_answers(env):
    """True when the plain-HTTP registry of the testbed described by env responds."""
    url = f"http://{env['TESTBED_HOST']}:{env['TESTBED_HTTP_PORT']}/v2/"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def images_pushed(env):
    """True when make-images.sh has pushed the test images (it writes images.txt last)."""
    return os.path.exists(env.get("TESTBED_IMAGES", "/nonexistent"))
