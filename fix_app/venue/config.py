"""The FIX venue's configuration: its session, where it keeps its state, and its fault modes.

Every fault has an environment variable (read when the option is not given), so a Procfile line or
a test can switch one on without a new command line; ``docs/fix-venue.md`` lists them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "FIX_VENUE_"
DEFAULT_PORT = 9878


@dataclass(frozen=True, slots=True)
class VenueConfig:
    port: int = DEFAULT_PORT
    sender_comp_id: str = "VENUE"
    target_comp_id: str = "DESK"
    venue_code: str = "FIX-A"
    state_dir: Path = Path("var/fix_venue/VENUE")  # book.json, the QuickFIX store (store/) and session log (log/)
    tick_ms: int = 200
    data_dictionary: Path | None = None
    # Fault modes
    reject_share: float = 0.0  # refuse this share of new orders, chosen by a hash of the ClOrdID
    reject_text: str = ""
    drop_after: int = 0  # drop the connection after this many application messages received on it (0: never)
    ack_delay_ms: int = 0  # hold every D, F and G this long before acting on it
    query_delay_ms: int = 0  # hold every AF and AN this long before answering it (a venue slow to reconcile)
    duplicate_reports: bool = False  # send every ExecutionReport twice, the second with PossDupFlag=Y
    cancel_on_disconnect: bool = False  # on logout or disconnect, cancel the session's open orders
    pending_acks: bool = False  # send 6 PENDING_CANCEL / E PENDING_REPLACE before the 4 / 5

    @property
    def book_path(self) -> Path:
        return self.state_dir / "book.json"

    @property
    def store_path(self) -> Path:
        return self.state_dir / "store"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "log"


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def env_bool(name: str) -> bool:
    return (env(name, "") or "").strip().lower() in {"1", "y", "yes", "true", "on"}


def data_dictionary_path(explicit: str | Path | None = None) -> Path:
    """``FIX44.xml`` as the ``quickfix`` package installs it (``<prefix>/share/quickfix/``)."""
    candidates = [Path(explicit)] if explicit else []
    if os.environ.get("FIX_DATA_DICTIONARY"):
        candidates.append(Path(os.environ["FIX_DATA_DICTIONARY"]))
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent))):
        candidates.append(Path(prefix) / "share" / "quickfix" / "FIX44.xml")
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise FileNotFoundError("FIX44.xml not found (looked in: " + ", ".join(str(c) for c in candidates) + ")")


def session_settings_text(cfg: VenueConfig) -> str:
    """The acceptor's QuickFIX settings: one FIX 4.4 session that never resets its sequence numbers by itself
    (``ResetOnLogon=N``, a non-stop session), its messages persisted so resend requests and gap fills work
    across restarts. ``CancelOnDisconnect`` is the venue's own session setting (QuickFIX ignores it)."""
    dd = cfg.data_dictionary or data_dictionary_path()
    return f"""[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={cfg.port}
SocketReuseAddress=Y
SocketNodelay=Y
FileStorePath={cfg.store_path.resolve()}
FileLogPath={cfg.log_path.resolve()}
NonStopSession=Y
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={dd}
ValidateUserDefinedFields=N
AllowUnknownMsgFields=Y
ResetOnLogon=N
ResetOnLogout=N
ResetOnDisconnect=N
RefreshOnLogon=Y
PersistMessages=Y
CheckLatency=N
TimestampPrecision=6

[SESSION]
BeginString=FIX.4.4
SenderCompID={cfg.sender_comp_id}
TargetCompID={cfg.target_comp_id}
CancelOnDisconnect={"Y" if cfg.cancel_on_disconnect else "N"}
"""
