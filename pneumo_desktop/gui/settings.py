"""Persistent user settings (QSettings) behind typed properties."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "PneumoDesktop"
APPLICATION = "Pneumo Desktop"
DEFAULT_OPACITY = 0.5


class AppSettings:
    """Typed access to the app's QSettings: folders, overlay, model and threshold override.

    Pass an explicit QSettings (e.g. an INI file in a temporary folder) to isolate tests;
    without one the platform store of ORGANIZATION/APPLICATION is used.
    """

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    # -- helpers --------------------------------------------------------------------------
    def _str(self, key: str, default: str = "") -> str:
        value = self.store.value(key, default)
        return default if value is None else str(value)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self.store.value(key, default))
        except (TypeError, ValueError):
            return default

    def _bool(self, key: str, default: bool) -> bool:
        value = self.store.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    def sync(self) -> None:
        self.store.sync()

    # -- folders --------------------------------------------------------------------------
    @property
    def last_image_dir(self) -> str:
        return self._str("folders/last_image")

    @last_image_dir.setter
    def last_image_dir(self, value: str) -> None:
        self.store.setValue("folders/last_image", str(value))

    @property
    def last_batch_dir(self) -> str:
        return self._str("folders/last_batch")

    @last_batch_dir.setter
    def last_batch_dir(self, value: str) -> None:
        self.store.setValue("folders/last_batch", str(value))

    @property
    def last_export_dir(self) -> str:
        return self._str("folders/last_export")

    @last_export_dir.setter
    def last_export_dir(self, value: str) -> None:
        self.store.setValue("folders/last_export", str(value))

    # -- overlay --------------------------------------------------------------------------
    @property
    def overlay_opacity(self) -> float:
        return min(1.0, max(0.0, self._float("overlay/opacity", DEFAULT_OPACITY)))

    @overlay_opacity.setter
    def overlay_opacity(self, value: float) -> None:
        self.store.setValue("overlay/opacity", float(min(1.0, max(0.0, value))))

    @property
    def overlay_visible(self) -> bool:
        return self._bool("overlay/visible", True)

    @overlay_visible.setter
    def overlay_visible(self, value: bool) -> None:
        self.store.setValue("overlay/visible", bool(value))

    # -- model ----------------------------------------------------------------------------
    @property
    def active_model(self) -> str:
        """Folder of the model chosen in the model manager ('' = the shipped default)."""
        return self._str("model/active")

    @active_model.setter
    def active_model(self, value: str) -> None:
        self.store.setValue("model/active", str(value))

    @property
    def threshold_override(self) -> float | None:
        """A decision threshold replacing the model's, or None to use the model's."""
        raw = self.store.value("model/threshold_override", "")
        if raw in (None, ""):
            return None
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return None
        return value if 0.0 < value < 1.0 else None

    @threshold_override.setter
    def threshold_override(self, value: float | None) -> None:
        if value is None:
            self.store.remove("model/threshold_override")
        else:
            if not 0.0 < float(value) < 1.0:
                raise ValueError(f"threshold {value} is not between 0 and 1")
            self.store.setValue("model/threshold_override", float(value))

    # -- receiving ------------------------------------------------------------------------
    @property
    def receive_dicom(self) -> bool:
        """Receive DICOM over the network (else watched folder only)."""
        return self._bool("receiving/dicom", True)

    @receive_dicom.setter
    def receive_dicom(self, value: bool) -> None:
        self.store.setValue("receiving/dicom", bool(value))

    @property
    def receive_ae_title(self) -> str:
        from pneumo_desktop.intake.receiver import DEFAULT_AE_TITLE

        return self._str("receiving/ae_title", DEFAULT_AE_TITLE) or DEFAULT_AE_TITLE

    @receive_ae_title.setter
    def receive_ae_title(self, value: str) -> None:
        self.store.setValue("receiving/ae_title", str(value))

    @property
    def receive_port(self) -> int:
        from pneumo_desktop.intake.receiver import DEFAULT_PORT

        value = int(self._float("receiving/port", DEFAULT_PORT))
        return value if 0 < value < 65536 else DEFAULT_PORT

    @receive_port.setter
    def receive_port(self, value: int) -> None:
        self.store.setValue("receiving/port", int(value))

    @property
    def receive_allowed(self) -> list[str]:
        """Calling AE titles accepted (empty: any)."""
        return [t for t in self._str("receiving/allowed").split(",") if t]

    @receive_allowed.setter
    def receive_allowed(self, value: list[str]) -> None:
        self.store.setValue("receiving/allowed", ",".join(value))

    @property
    def watch_folder(self) -> str:
        return self._str("receiving/watch_folder")

    @watch_folder.setter
    def watch_folder(self, value: str) -> None:
        self.store.setValue("receiving/watch_folder", str(value))

    @property
    def results_destination(self) -> str:
        """The PACS that gets the result objects, as AE@HOST:PORT ('' : none)."""
        return self._str("receiving/results_to")

    @results_destination.setter
    def results_destination(self, value: str) -> None:
        self.store.setValue("receiving/results_to", str(value))

    @property
    def receiving_enabled(self) -> bool:
        """The receiver was on when the app last closed: start it again at launch."""
        return self._bool("receiving/enabled", False)

    @receiving_enabled.setter
    def receiving_enabled(self, value: bool) -> None:
        self.store.setValue("receiving/enabled", bool(value))

    @property
    def receive_listen_address(self) -> str:
        """The address the receiver listens on: 127.0.0.1 (this computer only, the default)
        or '' (every address, chosen by the user)."""
        return self._str("receiving/listen_address", "127.0.0.1")

    @receive_listen_address.setter
    def receive_listen_address(self, value: str) -> None:
        self.store.setValue("receiving/listen_address", str(value))

    @property
    def receive_allowed_addresses(self) -> list[str]:
        """Addresses or networks the receiver accepts connections from (empty: any)."""
        return [a for a in self._str("receiving/allowed_addresses").split(",") if a]

    @receive_allowed_addresses.setter
    def receive_allowed_addresses(self, value: list[str]) -> None:
        self.store.setValue("receiving/allowed_addresses", ",".join(value))

    def results_tls_file(self, kind: str) -> str:
        """The TLS 'ca', 'cert' or 'key' file (PEM) for sending results to the PACS; '' when
        none (no CA: plain DICOM)."""
        return self._str(f"receiving/results_tls_{kind}")

    def set_results_tls_file(self, kind: str, path: str) -> None:
        self.store.setValue(f"receiving/results_tls_{kind}", str(path))

    def receive_tls_file(self, kind: str) -> str:
        """The TLS 'cert', 'key' or 'ca' file (PEM) of the receiver; '' when none."""
        return self._str(f"receiving/tls_{kind}")

    def set_receive_tls_file(self, kind: str, path: str) -> None:
        self.store.setValue(f"receiving/tls_{kind}", str(path))

    @property
    def retention_days(self) -> int:
        """Delete received images after this many days; 0: keep them (the default)."""
        value = int(self._float("receiving/retention_days", 0))
        return max(value, 0)

    @retention_days.setter
    def retention_days(self, value: int) -> None:
        self.store.setValue("receiving/retention_days", int(value))

    # -- window ---------------------------------------------------------------------------
    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self.store.setValue("window/state", value)
