"""The failures a stage raises on purpose.

Every error carries an `error_type` (the `processing_errors.error_type` it is
filed under) and a message written by this project, never text taken from a
document: error rows and logs must not carry patient content. A `TransientError`
is worth another try, a `PermanentError` is not; which other libraries' errors are
transient, and how any error is described in its row, is the run engine's rule
(`app/runs/failures.py`), since the stages here know nothing of databases or brokers.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of the errors stages raise on purpose."""

    error_type = "internal_error"
    #: A refused file ends `quarantined` rather than `failed`, and no later stage reads it.
    quarantine = False


class TransientError(PipelineError):
    """Worth trying again later: a timeout, a rate limit, a service that is down."""


class PermanentError(PipelineError):
    """Trying again cannot help: bad input, or a file the security scan refuses."""


#: Why the security scan refuses a file: each is the `error_type` its file is quarantined
#: under (the web app words each for people, `app/web/wording.py`).
SCAN_REASONS = {
    "malware_detected": "a virus signature, or the virus scanner's verdict",
    "unsupported_type": "a type off the allow-list",
    "type_mismatch": "a name claiming another kind of file than the bytes are",
    "encrypted_pdf": "a PDF that needs a password or a key",
    "executable_content": "a PDF with scripts, actions beyond the document, or files of its own",
    "malformed_file": "a file that does not parse, is truncated, or is nested too deeply",
    "too_many_pages": "more pages (or frames) than accepted",
    "polyglot_file": "a file that is also a ZIP archive",
    "decompression_bomb": "a stream, image or page that would decode past a cap",
    "unsupported_pdf_feature": "a PDF feature the readers disagree on or that cannot be measured",
    "security_rejected": "refused, with no more specific reason",
}


class SecurityRejected(PermanentError):
    error_type = "security_rejected"
    quarantine = True

    def __init__(self, message: str, error_type: str = "security_rejected") -> None:
        super().__init__(message)
        self.error_type = error_type


class AITimeout(TransientError):
    error_type = "ai_timeout"


class ApiError(TransientError):
    error_type = "api_error"


class RateLimited(TransientError):
    """Told to slow down; `retry_after` (seconds) says when to try again, if known."""

    error_type = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
