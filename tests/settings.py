"""Test settings: a throwaway data folder and a fast password hasher."""

import os
import tempfile

os.environ.setdefault("FUNDPILOT_HOME", tempfile.mkdtemp(prefix="fundpilot-test-"))

from fundpilot.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
