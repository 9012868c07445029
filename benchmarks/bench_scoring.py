"""Scoring speed (images/s): `pneumo-desktop score` against the naive one-image-at-a-time way.

    python benchmarks/bench_scoring.py [IMAGES] [--model BUNDLE | --arch mobilenet_v2 --size 224]
                                       [--batch-size 16] [--limit N]

IMAGES defaults to ../shared/data/chest_xray_native (searched recursively for JPEG/PNG); the
model defaults to models/default, or `--arch/--size` builds a random-init bundle in a temporary
folder (speed does not depend on the weights). Both ways score the same files with the same
model file and write a CSV:

* pneumo-desktop score: the `Predictor` (reduced-resolution JPEG decode in a thread pool,
  fixed-shape batches through one compiled function) via `score_to_csv`, as the CLI does;
* naive: PIL `Image.open` -> `convert("RGB")` -> grayscale -> resize -> `model.predict` on
  one image at a time.

Two figures each: "steady state" (in this process, model loaded and warmed up, only the
scoring loop timed) and "whole process" (`python -m pneumo_desktop score ...` and this script's
`--naive-worker` mode as subprocesses, wall clock including Python, TensorFlow import and
model loading).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "chest_xray_native"
SUFFIXES = {".jpg", ".jpeg", ".png"}

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def find_images(folder: Path, limit: int = 0) -> list[Path]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES
                   and not p.name.startswith("."))
    return paths[:limit] if limit else paths


# -- the naive way --------------------------------------------------------------------------
def naive_score(model, paths: list[Path], size: int) -> list[float]:
    """What a first script does: PIL per file, model.predict per image."""
    import numpy as np
    from PIL import Image

    probs = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        gray = image.convert("L").resize((size, size))
        x = np.asarray(gray, dtype=np.float32)[None, :, :, None]
        probs.append(float(model.predict(x, verbose=0)[0, 0]))
    return probs


def naive_worker(args) -> None:
    """Subprocess entry: everything (imports, model load, scoring, CSV) inside the timing."""
    import keras

    from pneumo_desktop.model import layers  # noqa: F401  (registers the custom layer)

    paths = find_images(Path(args.images), args.limit)
    model = keras.saving.load_model(Path(args.model) / "model.keras", compile=False)
    probs = naive_score(model, paths, int(model.input_shape[1]))
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "probability"])
        writer.writerows(zip(map(str, paths), probs, strict=True))


# -- helpers --------------------------------------------------------------------------------
def build_random_bundle(arch: str, size: int, folder: Path) -> Path:
    import keras

    from pneumo_desktop.model.architectures import build_model
    from pneumo_desktop.model.bundle import ModelCard, write_bundle

    keras.utils.set_random_seed(0)
    target = folder / f"{arch}_{size}_random"
    write_bundle(target, build_model(arch, size),
                 ModelCard(name=target.name, architecture=arch, input_size=size, threshold=0.5))
    return target


def timed_subprocess(command: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 3):
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-2000:]}")
    return seconds


def image_sizes(paths: list[Path]) -> tuple[float, float]:
    from PIL import Image

    sides = []
    for path in paths:
        with Image.open(path) as img:
            sides.append(img.size)
    return (sum(w for w, _ in sides) / len(sides), sum(h for _, h in sides) / len(sides))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", default=str(DEFAULT_IMAGES))
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    parser.add_argument("--arch", help="build a random-init bundle of this architecture")
    parser.add_argument("--size", type=int, default=224, help="input size for --arch")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=0, help="use at most N images")
    parser.add_argument("--naive-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_worker:
        naive_worker(args)
        return

    paths = find_images(Path(args.images), args.limit)
    if not paths:
        sys.exit(f"no JPEG/PNG images in {args.images}")
    for path in paths:  # same disk-cache state for every run
        path.read_bytes()
    work = Path(tempfile.mkdtemp(prefix="bench_scoring_"))
    model_dir = (build_random_bundle(args.arch, args.size, work) if args.arch
                 else Path(args.model))

    from pneumo_desktop.model.backend import device_description, keras_module
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Predictor
    from pneumo_desktop.model.scoring import score_to_csv

    bundle = read_bundle(model_dir)
    card = bundle.card
    n = len(paths)
    width, height = image_sizes(paths)
    print(f"images: {n} files under {args.images}, mean {width:.0f} x {height:.0f} px")
    print(f"model: {bundle.name} ({card.architecture}, {card.input_size} px"
          f"{', random init' if args.arch else ''}), batch size {args.batch_size}")
    print(f"device: {device_description()}, {os.cpu_count()} CPU cores, load average "
          f"{os.getloadavg()[0]:.2f} at start")

    # whole process: subprocesses, Python + TensorFlow import + model load included
    targets = list(map(str, paths)) if args.limit else [str(args.images)]
    cli_seconds = timed_subprocess(
        [sys.executable, "-m", "pneumo_desktop", "score", *targets, "--out",
         str(work / "cli.csv"), "--model", str(model_dir), "--batch-size", str(args.batch_size)])
    with open(work / "cli.csv", newline="") as handle:
        cli_rows = list(csv.DictReader(handle))
    unread = [row for row in cli_rows if row["error"] and not row["error"].startswith("not sc")]
    if len(cli_rows) != n or unread:
        sys.exit(f"the CLI did not read exactly the {n} images: see {work / 'cli.csv'}")
    refused = sum(row["input_check"] == "refused" for row in cli_rows)
    naive_seconds = timed_subprocess(
        [sys.executable, str(Path(__file__).resolve()), str(args.images), "--naive-worker",
         "--model", str(model_dir), "--out", str(work / "naive.csv"),
         "--limit", str(args.limit)])

    # steady state: in this process, model loaded and warmed up
    keras = keras_module()
    predictor = Predictor(bundle, batch_size=args.batch_size)  # compiles its forward pass
    model = keras.saving.load_model(bundle.model_file, compile=False)
    naive_score(model, paths[:1], card.input_size)  # builds model.predict's function
    started = time.perf_counter()
    summary = score_to_csv(predictor, paths, work / "steady.csv")
    fast_seconds = time.perf_counter() - started
    assert summary.scored + summary.refused == n, summary
    # the input check's cost: the same Predictor without it (no tag, pixel or learned check)
    unchecked = Predictor(bundle, batch_size=args.batch_size, input_check=False,
                          learned_check=False)
    unchecked.precheck = lambda image, model_input: None
    with_check, without_check = [], []
    for _ in range(3):
        for runner, times in ((predictor, with_check), (unchecked, without_check)):
            started = time.perf_counter()
            score_to_csv(runner, paths, work / "check.csv")
            times.append(time.perf_counter() - started)
    started = time.perf_counter()
    naive_probs = naive_score(model, paths, card.input_size)
    slow_seconds = time.perf_counter() - started
    with open(work / "steady.csv", newline="") as handle:
        fast_probs = [float(row["probability"]) if row["probability"] else None
                      for row in csv.DictReader(handle)]
    diff = max(abs(a - b) for a, b in zip(fast_probs, naive_probs, strict=True) if a is not None)

    def line(label: str, seconds: float) -> str:
        return f"  {label:<32}{n / seconds:>10.1f}{seconds:>10.2f}"

    print(f"\n{'':<34}{'images/s':>10}{'seconds':>10}")
    print("steady state (in process, model loaded and warmed up):")
    print(line("pneumo-desktop score", fast_seconds))
    print(line("naive PIL + model.predict", slow_seconds))
    print(f"  {'speed-up':<32}{slow_seconds / fast_seconds:>9.1f}x")
    print("whole process (subprocess wall clock, imports and model load included):")
    print(line("python -m pneumo_desktop score", cli_seconds))
    print(line("naive script", naive_seconds))
    print(f"  {'speed-up':<32}{naive_seconds / cli_seconds:>9.1f}x")
    print("input check (steady state, best of 3 alternating runs):")
    print(line("with the input check", min(with_check)))
    print(line("without it", min(without_check)))
    cost = (min(with_check) - min(without_check)) / n * 1000
    print(f"  {'extra cost per image':<32}{cost:>9.2f} ms (learned check: "
          f"{'yes' if predictor.learned_check else 'missing'}); {refused} of {n} refused")
    print(f"\nlargest probability difference between the two ways: {diff:.4f} "
          "(different decoders and resizing)")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
