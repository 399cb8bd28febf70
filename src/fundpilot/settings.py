"""Settings from the environment, with safe defaults for a laptop.

FUNDPILOT_HOME   data folder: SQLite database, stored files, signing keys (default ./var)
DATABASE_URL     e.g. postgres://user:pass@127.0.0.1:5432/fundpilot
                 (default: SQLite in FUNDPILOT_HOME)
SECRET_KEY       required when DEBUG is off; a per-home key is generated otherwise
FUNDPILOT_DEBUG  "1" for development pages with tracebacks
"""

import os
import secrets
from pathlib import Path

import dj_database_url

HOME = Path(os.environ.get("FUNDPILOT_HOME", "var")).resolve()
HOME.mkdir(parents=True, exist_ok=True)
BASE_DIR = Path(__file__).resolve().parent

DEBUG = os.environ.get("FUNDPILOT_DEBUG", "") == "1"


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    # A laptop install keeps one generated key in its data folder so sessions survive restarts.
    path = HOME / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "fundpilot.audit",
    "fundpilot.pilots",
    "fundpilot.participants",
    "fundpilot.claims",
    "fundpilot.money",
    "fundpilot.governance",
    "fundpilot.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "fundpilot.urls"
AUTH_USER_MODEL = "pilots.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_sqlite_url = f"sqlite:///{HOME / 'fundpilot.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", _sqlite_url))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work during a write; IMMEDIATE takes the write lock at BEGIN so
    # concurrent actions queue instead of failing halfway with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [
    p for p in [BASE_DIR.parent.parent / "node_modules" / "htmx.org" / "dist"] if p.exists()
]
STATIC_ROOT = HOME / "static"
MEDIA_ROOT = HOME / "files"
# Largest evidence file accepted (C7), in bytes; default 20 MiB.
FUNDPILOT_EVIDENCE_MAX_BYTES = int(os.environ.get("FUNDPILOT_EVIDENCE_MAX_BYTES", 20 << 20))
FUNDPILOT_KEYS_DIR = Path(os.environ.get("FUNDPILOT_KEYS_DIR", HOME / "keys"))
FUNDPILOT_CHECKPOINTS_DIR = Path(os.environ.get("FUNDPILOT_CHECKPOINTS_DIR", HOME / "checkpoints"))
# Background work runs from the database queue (`fundpilot worker`); no broker to run.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
