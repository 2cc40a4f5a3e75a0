"""avito_kit: the Avito toolkit for short-term-rental hosts, for Jupyter.

>>> from avito_kit import open_client, run
>>> client = open_client()            # the real API with AVITO_CLIENT_ID/SECRET set, else the embedded sandbox
>>> chats = run(client.get_chats(unread_only=True))
"""

from .aio import run
from .auth import AvitoAuth
from .client import AvitoApiClient
from .errors import (
    AvitoAuthError,
    AvitoBadRequest,
    AvitoClientError,
    AvitoConflict,
    AvitoError,
    AvitoForbidden,
    AvitoHTTPError,
    AvitoNotFound,
    AvitoPaymentRequired,
    AvitoRateLimited,
    AvitoServerError,
    AvitoTransportError,
    AvitoUnexpectedAnswer,
    AvitoValidationError,
    BookingConflict,
    ConflictingBooking,
    MissingCredentialsError,
    StoreLockedError,
)
from .limits import RateLimiter, RetryPolicy
from .session import open_client, using_sandbox
from .store import Store

__all__ = [
    "AvitoApiClient",
    "AvitoAuth",
    "AvitoAuthError",
    "AvitoBadRequest",
    "AvitoClientError",
    "AvitoConflict",
    "AvitoError",
    "AvitoForbidden",
    "AvitoHTTPError",
    "AvitoNotFound",
    "AvitoPaymentRequired",
    "AvitoRateLimited",
    "AvitoServerError",
    "AvitoTransportError",
    "AvitoUnexpectedAnswer",
    "AvitoValidationError",
    "BookingConflict",
    "ConflictingBooking",
    "MissingCredentialsError",
    "RateLimiter",
    "RetryPolicy",
    "Store",
    "StoreLockedError",
    "open_client",
    "run",
    "using_sandbox",
]

__version__ = "0.1.0"
