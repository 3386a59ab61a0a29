"""Settings, all from the environment.

With DJANGO_DEBUG=true and nothing else set the app runs on SQLite with Celery tasks
executed in-process, so one command starts it anywhere (without DJANGO_DEBUG=true it
needs DJANGO_SECRET_KEY). With DATABASE_URL and CELERY_BROKER_URL it runs on
PostgreSQL, Redis and separate workers (docker-compose, CI, production).
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # A guessable key forges sessions and password-reset links: never serve real data with one.
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (50+ random characters) to run with DJANGO_DEBUG=false, "
            "or set DJANGO_DEBUG=true for local development."
        )
    SECRET_KEY = "insecure-local-only-key-change-me"
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "csp",
    "core",
    "donors",
    "classification",
    "imaging",
    "workup",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.RefuseNulInQueryMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.middleware.NoStoreMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "core.middleware.DomainErrorPagesMiddleware",
    # Innermost: the lockout page it puts in place of the login answer still gets CSP and no-store.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = env("DJANGO_ROOT_URLCONF", default="config.urls")
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.roles",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))

AUTH_USER_MODEL = "donors.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses locked-out users and addresses before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
# The home view sends each role to its first page (the auditor to the audit trail).
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# DJANGO_STORAGE=s3 keeps every file (DICOM, renderings, PDFs, audit archives) in an S3-compatible
# bucket, shared by all web, worker and DICOM node machines; the default is the local MEDIA_ROOT.
DJANGO_STORAGE = env("DJANGO_STORAGE", default="local")
if DJANGO_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured(f"DJANGO_STORAGE: {DJANGO_STORAGE!r} is neither 'local' nor 's3'")
S3_STORAGE_OPTIONS = {
    "bucket_name": env("DJANGO_S3_BUCKET", default=""),
    "endpoint_url": env("DJANGO_S3_ENDPOINT_URL", default="") or None,
    "region_name": env("DJANGO_S3_REGION", default="") or None,
    # Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (boto3 reads them itself).
    # Private objects, never a URL that works without a session: files go out only through the
    # permission-checked views, which stream them from the bucket.
    "default_acl": None,
    "querystring_auth": True,
    "querystring_expire": 60,
    "file_overwrite": False,
    "addressing_style": env("DJANGO_S3_ADDRESSING_STYLE", default="path"),
    "signature_version": "s3v4",
}
if DJANGO_STORAGE == "s3" and not S3_STORAGE_OPTIONS["bucket_name"]:
    raise ImproperlyConfigured("DJANGO_STORAGE=s3 needs DJANGO_S3_BUCKET")
STORAGES = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": S3_STORAGE_OPTIONS}
        if DJANGO_STORAGE == "s3"
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        # Production sets whitenoise.storage.CompressedManifestStaticFilesStorage after collectstatic.
        "BACKEND": env("DJANGO_STATICFILES_STORAGE", default="django.contrib.staticfiles.storage.StaticFilesStorage")
    },
}
WHITENOISE_USE_FINDERS = True

# Uploaded DICOM files, rendered images and issued PDFs: never served directly, only
# through permission-checked views.
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "/media/"  # no route serves it: files go out only through permission-checked views

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=8 * 3600)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# HTTPS: the defaults suit runserver on http://; docker-compose sets the production values.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # the container's own health check speaks plain HTTP
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Behind a TLS-terminating proxy only: trust its X-Forwarded-Proto and X-Forwarded-For.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_FOR = env.bool("DJANGO_USE_X_FORWARDED_FOR", default=False)

CACHES = {"default": env.cache("DJANGO_CACHE_URL", default="locmemcache://")}

# Content-Security-Policy: scripts only from our own static files (no inline script, no
# event-handler attributes); the few inline <style> blocks carry the per-response nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Failed logins (django-axes, failures kept in the database): after AXES_FAILURE_LIMIT failures
# for one username, or from one address, further attempts are refused for the cool-off time.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "core.views.locked_out"
# The same client address the audit trail records (the proxy's X-Forwarded-For when trusted).
AXES_CLIENT_IP_CALLABLE = "core.audit.client_ip"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ApiClientTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        # JSON bodies are refused when nested too deep or carrying NUL characters (a 400 naming where).
        "core.json_input.CheckedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_METADATA_CLASS": "core.api_metadata.PlainMetadata",
    "DEFAULT_PAGINATION_CLASS": "core.api_common.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "core.api_common.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Hospital systems' tokens are rate-limited per client; people on the pages are not.
    "DEFAULT_THROTTLE_CLASSES": ["core.authentication.ApiClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_client": env("API_TOKEN_THROTTLE_RATE", default="1000/min")},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Living donor liver workup API",
    "DESCRIPTION": "Donors, recipients, biliary anatomy, MRCP studies and suitability reports. "
    "Hospital systems authenticate with a per-client token: `Authorization: Token <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    # Swagger UI is served from our static files: the docs work without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Without deep links an operation's summary is one button, not a link nested in a button.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# Celery: without a broker, tasks run in-process (eager) so the app needs nothing else.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
# Eager tasks still open a producer to pick a serializer; an in-memory transport keeps that local.
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
# Two queues by weight (config/celery.py routes tasks by name): interactive work on the default
# queue, ingest, rendering, reports and bulk re-classification on the heavy one.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="workup")
CELERY_TASK_HEAVY_QUEUE = env("CELERY_TASK_HEAVY_QUEUE", default="workup-heavy")
CELERY_TASK_ROUTES = ("config.celery.route_by_weight",)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600)}

# Audit events older than this many whole months move to compressed files in storage
# (manage.py archive_audit_events); unset, the command refuses to run and nothing moves.
AUDIT_ARCHIVE_AFTER_MONTHS = env.int("AUDIT_ARCHIVE_AFTER_MONTHS", default=None)

# DICOM upload limits (per upload).
DICOM_MAX_FILES = env.int("DICOM_MAX_FILES", default=2000)
DICOM_MAX_UPLOAD_BYTES = env.int("DICOM_MAX_UPLOAD_BYTES", default=2 * 1024**3)
# Per frame, not per file: an Enhanced MR file holds a whole series (512 x 512 x 130 frames is 68 MB).
DICOM_MAX_FRAME_BYTES = env.int("DICOM_MAX_FRAME_BYTES", default=64 * 1024**2)
# The ceiling on any one file, whatever its frames.
DICOM_MAX_FILE_BYTES = env.int("DICOM_MAX_FILE_BYTES", default=1024**3)
DICOM_MAX_COMPRESSION_RATIO = env.int("DICOM_MAX_COMPRESSION_RATIO", default=200)
# A worker's claim on an upload lapses after this long without progress, so another can resume it.
DICOM_INGEST_LEASE_SECONDS = env.int("DICOM_INGEST_LEASE_SECONDS", default=90)
# Files imported per transaction: what a dying worker can lose, and how often progress shows.
DICOM_INGEST_BATCH_FILES = env.int("DICOM_INGEST_BATCH_FILES", default=250)
# Propose the duct tree of a 3D MRCP series once it is imported and rendered (a heavy task).
TREE_PROPOSAL_ON_INGEST = env.bool("TREE_PROPOSAL_ON_INGEST", default=True)
DATA_UPLOAD_MAX_NUMBER_FILES = DICOM_MAX_FILES
# The DICOM node (`manage.py dicom_scp`): its AE title and TCP port.
DICOM_AE_TITLE = env("DICOM_AE_TITLE", default="LDLTWORKUP")
DICOM_PORT = env.int("DICOM_PORT", default=11112)
# Sending issued reports to a centre's PACS: the wait for each answer, and the retries of a send that
# could not get through (after 30 s, then 60, 120, 240, 480: about 15 minutes in all).
PACS_TIMEOUT_SECONDS = env.int("PACS_TIMEOUT_SECONDS", default=30)
PACS_RETRIES = env.int("PACS_RETRIES", default=5)
PACS_RETRY_SECONDS = env.int("PACS_RETRY_SECONDS", default=30)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024**2

# API tokens for hospital systems expire unless renewed.
API_TOKEN_LIFETIME_DAYS = env.int("API_TOKEN_LIFETIME_DAYS", default=365)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="WARNING")},
}
