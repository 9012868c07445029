"""Render docs/screenshot-worklist.png: the main window receiving 14 studies (native films as DX
DICOMs, sent by another process over the loopback address), the most suspect one opened.

    QT_QPA_PLATFORM=offscreen python docs/worklist_screenshot.py docs/screenshot-worklist.png
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]
NAMES = ["Okafor^Ada", "Mensah^Kofi", "Diallo^Awa", "Banda^Chipo", "Ochieng^Otieno",
         "Nkosi^Thandi", "Abebe^Selam", "Mwangi^Wanjiru", "Traore^Moussa", "Phiri^Mercy",
         "Kamara^Fatmata", "Asante^Yaw", "Mutua^Neema", "Sow^Aminata"]  # made up


def main(out: str) -> None:
    import pydicom
    from bench_receiver import SENDER, films, write_studies
    from gui_gaps import wait_until
    from PySide6.QtCore import QSettings

    data = Path(tempfile.mkdtemp(prefix="worklist-shot-"))
    os.environ["PNEUMO_DATA_DIR"] = str(data)  # a throw-away audit log
    (data / "send").mkdir()
    paths = write_studies(data / "send", films("native", 512, 120)[::9][:len(NAMES)])
    for i, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.PatientName, ds.PatientID = NAMES[i], f"CH{1040 + i}"
        ds.StudyDescription = "CHEST AP" if i % 3 else "CHEST PA"
        ds.save_as(path)

    from pneumo_desktop.compute.process import shared_process
    from pneumo_desktop.gui.app import make_application
    from pneumo_desktop.gui.window.main_window import MainWindow

    app = make_application([sys.argv[0]])
    settings = QSettings(str(data / "settings.ini"), QSettings.Format.IniFormat)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.setValue("receiving/port", port)
    settings.setValue("receiving/enabled", True)
    window = MainWindow(model_path=ROOT / "models" / "default", settings=settings,
                        model_dirs=[])
    window.resize(1366, 820)
    window.show()
    wait_until(lambda: window.intake is not None and window.intake.running
               and window.is_model_ready, 60)
    subprocess.run([sys.executable, "-c", SENDER, str(port), str(data / "send"), str(ROOT)],
                   check=True, capture_output=True)
    model = window.intake.model
    n = len(paths)
    wait_until(lambda: model.rowCount() == n and all(model.row(i).outcome for i in range(n)),
               120)
    best = max(range(n), key=lambda i: model.row(i).probability or 0)
    proxy = window.intake.worklist.proxy
    window.intake.worklist.table.selectRow(proxy.mapFromSource(model.index(best, 0)).row())
    window.open_image(model.row(best).path)
    wait_until(lambda: window.current_result is not None
               and window.current_result.prediction is not None, 60)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    window.grab().save(out)
    print(f"wrote {out}")
    window.close()
    window.deleteLater()  # before the interpreter's final collection, which Qt objects outlive
    app.processEvents()
    shared_process().close()


if __name__ == "__main__":
    main(sys.argv[1])
