"""Settings from the environment, with safe defaults for a laptop.

FUNDPILOT_HOME   data folder: SQLite database, stored files, signing keys (default ./var)
DATABASE_URL     e.g. postgres://user:pass@127.0.0.1:5432/fundpilot
                 (default: SQLite in FUNDPILOT_HOME)
SECRET_KEY       required in production; a per-home key is generated on a laptop
FUNDPILOT_DEBUG  "1" for development pages with tracebacks
FUNDPILOT_PRODUCTION  "1" under `fundpilot serve --production`: DEBUG off, SECRET_KEY required
FUNDPILOT_HTTPS  "1" when served over HTTPS: Secure cookies, HSTS, redirect to https
ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS  comma-separated
"""

import os
import secrets
from pathlib import Path

import dj_database_url

HOME = Path(os.environ.get("FUNDPILOT_HOME", "var")).resolve()
HOME.mkdir(parents=True, exist_ok=True)
BASE_DIR = Path(__file__).resolve().parent

PRODUCTION = os.environ.get("FUNDPILOT_PRODUCTION", "") == "1"
DEBUG = not PRODUCTION and os.environ.get("FUNDPILOT_DEBUG", "") == "1"
HTTPS = os.environ.get("FUNDPILOT_HTTPS", "") == "1"


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # A laptop install keeps one generated key in its data folder so sessions survive restarts.
    path = HOME / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()


def _listed(name: str, default: str = "") -> list[str]:
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


ALLOWED_HOSTS = _listed("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = _listed("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
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
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so a lockout answers after everything else has seen the request.
    "axes.middleware.AxesMiddleware",
]
# django-axes first: a locked account is refused before its password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
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
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
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
STATIC_ROOT.mkdir(exist_ok=True)
# whitenoise serves static files from STATIC_ROOT in production (collected at start) and
# straight from the finders otherwise.
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = HOME / "files"
# Largest evidence file accepted (C7), in bytes; default 20 MiB.
FUNDPILOT_EVIDENCE_MAX_BYTES = int(os.environ.get("FUNDPILOT_EVIDENCE_MAX_BYTES", 20 << 20))
FUNDPILOT_KEYS_DIR = Path(os.environ.get("FUNDPILOT_KEYS_DIR", HOME / "keys"))
FUNDPILOT_CHECKPOINTS_DIR = Path(os.environ.get("FUNDPILOT_CHECKPOINTS_DIR", HOME / "checkpoints"))
# Background work runs from the database queue (`fundpilot worker`); no broker to run.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 3600  # a working day
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send the token header
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if HTTPS:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = int(os.environ.get("FUNDPILOT_HSTS_SECONDS", 365 * 24 * 3600))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (see README).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# A strict policy: nothing inline, scripts and styles from our own static files only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
}

# Logins (django-axes): after AXES_FAILURE_LIMIT failures for one username from one
# address the account is locked for AXES_COOLOFF_TIME hours; an administrator can lift it.
AXES_FAILURE_LIMIT = int(os.environ.get("FUNDPILOT_LOGIN_FAILURES", 5))
AXES_COOLOFF_TIME = float(os.environ.get("FUNDPILOT_LOCKOUT_HOURS", 1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "web/locked.html"
# API tokens expire after this many days unless issued with another lifetime.
FUNDPILOT_TOKEN_DAYS = int(os.environ.get("FUNDPILOT_TOKEN_DAYS", 90))
OTP_TOTP_ISSUER = "fundpilot"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
